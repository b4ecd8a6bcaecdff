"""Rate-limit leases: a busy worker asks Redis once per many requests, and no one ever over-admits."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.config import LimitConfig
from gateway.exchange import Exchange
from gateway.policies.ratelimit import RATE_LIMIT_PREFIX, RateLimitPolicy
from gateway.redisbatch import RedisBatcher
from servicekit import RedisClient, TooManyRequests
from tests.gateway.test_redisbatch import CountingBatcher


def _exchange(client_id: str, limit: LimitConfig) -> Exchange:
    fake: Any = SimpleNamespace(
        route=SimpleNamespace(config=SimpleNamespace(tier="metered")),
        client=SimpleNamespace(tier="gold", client_id=client_id),
        runtime=SimpleNamespace(limits={("gold", "metered"): limit}),
        response_headers=[],
    )
    return cast(Exchange, fake)


async def _call(policy: RateLimitPolicy, client_id: str, limit: LimitConfig) -> dict[bytes, bytes] | None:
    """The policy's headers for one request, or None when it was refused with 429."""
    exchange = _exchange(client_id, limit)
    try:
        await policy.apply(exchange)
    except TooManyRequests:
        return None
    return dict(exchange.response_headers)


async def test_a_busy_client_costs_one_redis_call_per_lease_not_per_request(redis: RedisClient) -> None:
    counting = CountingBatcher(redis)
    policy = RateLimitPolicy(counting, lease_max=64, lease_ttl=5.0)
    limit = LimitConfig(requests=100_000, period=86_400.0)  # no refill to speak of during the test
    client = f"busy-{uuid.uuid4().hex}"
    remaining = []
    for _ in range(500):
        headers = await _call(policy, client, limit)
        assert headers is not None
        remaining.append(int(headers[b"ratelimit"].split(b";")[1][2:]))
    # 1, 2, 4, ... 64-token leases: a dozen round trips for 500 requests, not 500.
    await policy.drain()
    assert counting.round_trips <= 15, counting.round_trips
    # The header still counts down one per request: leased tokens not yet used are the client's.
    assert remaining == list(range(99_999, 99_999 - 500, -1))


async def test_small_limits_stay_one_exact_decision_per_request(redis: RedisClient) -> None:
    counting = CountingBatcher(redis)
    policy = RateLimitPolicy(counting, lease_max=64, lease_ttl=5.0)
    limit = LimitConfig(requests=20, period=60.0)  # 1 % of 20 is less than one token: no leases
    client = f"small-{uuid.uuid4().hex}"
    answers = [await _call(policy, client, limit) for _ in range(25)]
    assert sum(a is not None for a in answers) == 20
    assert counting.round_trips == 21  # one decision per admitted request, then the remembered refusal


async def test_two_workers_with_leases_never_admit_more_than_the_budget(redis: RedisClient) -> None:
    # Two workers (two policies, each its own leases) share one budget in Redis.
    first = RateLimitPolicy(RedisBatcher(redis), lease_max=64, lease_ttl=5.0)
    second = RateLimitPolicy(RedisBatcher(redis), lease_max=64, lease_ttl=5.0)
    limit = LimitConfig(requests=3_000, period=3_600.0)  # leases of up to 30 tokens; no refill to speak of
    client = f"shared-{uuid.uuid4().hex}"

    async def hammer(policy: RateLimitPolicy) -> int:
        admitted = 0
        for _ in range(40):
            answers = await asyncio.gather(*(_call(policy, client, limit) for _ in range(50)))
            admitted += sum(a is not None for a in answers)
        return admitted

    a, b = await asyncio.gather(hammer(first), hammer(second))
    await first.drain()
    await second.drain()
    assert a + b <= 3_000
    # Under-admission is bounded by what the two workers still hold in their leases.
    assert a + b >= 3_000 - 2 * 30, (a, b)


async def test_unused_leased_tokens_go_back_to_the_shared_budget(redis: RedisClient) -> None:
    policy = RateLimitPolicy(RedisBatcher(redis), lease_max=64, lease_ttl=0.05)
    limit = LimitConfig(requests=10_000, period=3_600.0)  # leases of up to 64 tokens
    client = f"refund-{uuid.uuid4().hex}"
    for _ in range(40):  # leases of 1, 2, 4, 8, 16, 32: the last one is partly unused
        assert await _call(policy, client, limit) is not None
    lease = policy.book.leases[f"{RATE_LIMIT_PREFIX}{{{client}}}:metered"]
    assert lease.tokens > 0
    for _ in range(1000):  # until the book itself says the lease has expired
        if policy.book.now() >= lease.expires:
            break
        await asyncio.sleep(0.01)
    headers = await _call(policy, client, limit)  # gives the expired lease's rest back first
    assert headers is not None
    await policy.batcher.drain()  # the refund is sent without waiting for it: wait until Redis answered it
    other = RateLimitPolicy(RedisBatcher(redis), lease_max=1)
    headers = await _call(other, client, limit)
    assert headers is not None
    # 42 requests used 42 tokens; what the first worker still holds is all that is missing.
    held = policy.book.leases[f"{RATE_LIMIT_PREFIX}{{{client}}}:metered"].tokens
    assert int(headers[b"ratelimit"].split(b";")[1][2:]) == 10_000 - 42 - held


@pytest.mark.parametrize("lease_max", [1, 64])
async def test_a_refusal_is_remembered_until_its_retry_time(redis: RedisClient, lease_max: int) -> None:
    counting = CountingBatcher(redis)
    policy = RateLimitPolicy(counting, lease_max=lease_max)
    limit = LimitConfig(requests=2, period=60.0)
    client = f"hammer-{uuid.uuid4().hex}"
    answers = [await _call(policy, client, limit) for _ in range(50)]
    assert [a is not None for a in answers[:3]] == [True, True, False]
    assert all(a is None for a in answers[3:])
    assert counting.round_trips == 3  # two grants and one refusal; the other 47 refusals cost no Redis call


class _SlowBatcher(RedisBatcher):
    """A batcher whose every Redis decision takes 5 ms, like a distant Redis."""

    async def evalsha(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        await asyncio.sleep(0.005)
        return await super().evalsha(script, keys, args)


async def test_a_busy_client_rarely_waits_for_redis_because_leases_are_topped_up_ahead(redis: RedisClient) -> None:
    policy = RateLimitPolicy(_SlowBatcher(redis), lease_max=64, lease_ttl=5.0)
    limit = LimitConfig(requests=1_000_000, period=86_400.0)
    client = f"steady-{uuid.uuid4().hex}"
    waited = 0
    for _ in range(1000):
        started = asyncio.get_running_loop().time()
        assert await _call(policy, client, limit) is not None
        if asyncio.get_running_loop().time() - started >= 0.004:
            waited += 1
        await asyncio.sleep(0.001)  # requests about a millisecond apart
    # While the lease grows (1, 2, 4, 8, 16 tokens) the client waits; once a quarter of a lease
    # outlasts a Redis call, it is topped up before it runs dry. Without top-ups 1000 requests wait
    # once per lease: 20 times or more.
    assert waited <= 9, waited
