"""Automatic pipelining: concurrent calls share round trips and each still gets its own answer."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.policies.ratelimit import GCRA
from gateway.redisbatch import RedisBatcher, Script
from servicekit import RedisClient

ECHO = Script("return ARGV[1]")


class CountingBatcher(RedisBatcher):
    """A batcher that counts its round trips (one pipeline on one Redis; one batch on a cluster)."""

    def __init__(self, redis: RedisClient) -> None:
        super().__init__(redis)
        self.round_trips = 0

    async def _results(self, batch: list[Any]) -> list[Any]:
        self.round_trips += 1
        return await super()._results(batch)


async def test_concurrent_calls_share_pipelines_and_get_their_own_results(redis: RedisClient) -> None:
    batcher = CountingBatcher(redis)
    results = await asyncio.gather(*(batcher.evalsha(ECHO, ["k"], [i]) for i in range(50)))
    assert results == [str(i).encode() for i in range(50)]  # loaded on NOSCRIPT, answered in order
    assert batcher.round_trips <= 3, batcher.round_trips  # not one round trip each


async def test_the_gcra_script_allows_exactly_the_budget(redis: RedisClient) -> None:
    batcher = RedisBatcher(redis)
    interval, capacity = 60_000_000 / 5, 60_000_000  # 5 per minute, in µs
    answers = await asyncio.gather(*(batcher.evalsha(GCRA, ["fig:test:rl"], [interval, capacity]) for _ in range(8)))
    assert [a[0] for a in answers] == [1, 1, 1, 1, 1, 0, 0, 0]
    assert [a[1] for a in answers[:5]] == [4, 3, 2, 1, 0]
    assert all(a[2] > 0 for a in answers[5:])  # retry-after in µs
