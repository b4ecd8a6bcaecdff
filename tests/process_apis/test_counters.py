"""Ops counters are exact: an outbox entry applied twice (a relay that crashed after applying but
before popping, or two relays of one run at once) is counted once."""

from __future__ import annotations

from process_apis.workflows.parking import counter
from process_apis.workflows.store import RunStore, read_counters
from servicekit.redis import RedisClient


async def test_an_outbox_applied_again_after_a_crash_counts_each_increment_once(redis: RedisClient) -> None:
    store = RunStore(redis, lock_ttl=10)
    outbox = "fig:q2c:{q2c-x}:outbox"
    async with store.lease("q2c-x") as lease:
        await store.write("q2c-x", lease, [], [counter("q2c:orders_created:DE01:api"), counter("recon:cycle_ms", 250)])
        committed = await redis.lrange(outbox, 0, -1)
    # Giving the lease back applied and popped the entries; a relay that died after applying them
    # but before its pop leaves them in the outbox:
    assert await redis.llen(outbox) == 0
    await redis.rpush(outbox, *committed)
    # ... so the next relay applies the same entries again.
    assert await store.relay("q2c-x") == 2

    assert await read_counters(redis) == {"q2c:orders_created:DE01:api": 1, "recon:cycle_ms": 250}
    assert await store.relay("q2c-x") == 0
