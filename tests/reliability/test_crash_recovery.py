"""Fast recovery after a worker dies: short run leases kept alive by heartbeats, dead consumers removed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from process_apis.workflows.store import LockLost, RunBusy, RunStore
from servicekit import RedisClient, StreamConsumer
from servicekit.streams import EVENT_FIELD

RUN = "q2c-recovery"
TTL = 1.0


async def _hold(store: RunStore, held: asyncio.Event, finish: asyncio.Event) -> None:
    """A worker in a long step: takes the lease, waits for `finish`, then commits under it."""
    async with store.lease(RUN) as lease:
        held.set()
        await finish.wait()
        await store.write(RUN, lease, [(store.source_key(RUN), b"written by the holder")])


@pytest.fixture
async def holder(redis: RedisClient) -> AsyncIterator[tuple[RunStore, asyncio.Event, asyncio.Task[None]]]:
    store = RunStore(redis, lock_ttl=TTL)
    held, finish = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(_hold(store, held, finish))
    await held.wait()
    yield store, finish, task
    finish.set()
    if not task.done():
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_live_worker_keeps_its_lease_through_a_step_longer_than_the_lease(
    redis: RedisClient, holder: tuple[RunStore, asyncio.Event, asyncio.Task[None]]
) -> None:
    _, finish, task = holder
    other = RunStore(redis, lock_ttl=TTL)
    # Another worker tries for three and a half lease times: the holder's heartbeats keep it out.
    with pytest.raises(RunBusy):
        async with other.lease(RUN, wait=3.5 * TTL):
            pass
    finish.set()
    await task  # the holder's commit went through: its lease was never lost
    assert await redis.get(other.source_key(RUN)) == b"written by the holder"


async def test_a_dead_workers_lease_is_taken_over_within_the_lease_time(
    redis: RedisClient, holder: tuple[RunStore, asyncio.Event, asyncio.Task[None]]
) -> None:
    store, finish, task = holder
    # The holder's process dies: nothing renews its lease any more (and it never gives it back).
    store.heartbeat.stop()
    other = RunStore(redis, lock_ttl=TTL)
    async with other.lease(RUN, wait=3 * TTL) as lease:
        await other.write(RUN, lease, [(other.source_key(RUN), b"written by the successor")])
    # Fenced: the old holder, had it only stalled, cannot commit over the successor.
    finish.set()
    with pytest.raises(LockLost):
        await task
    assert await redis.get(other.source_key(RUN)) == b"written by the successor"


async def _deliver(redis: RedisClient, consumer: str, *, ack: bool) -> None:
    entry = await redis.xadd("s:recovery", {EVENT_FIELD: b"{}"})
    await redis.xreadgroup("g", consumer, {"s:recovery": ">"}, count=1)
    if ack:
        await redis.xack("s:recovery", "g", entry)


async def _consumers(redis: RedisClient) -> dict[str, int]:
    return {
        (c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): int(c["pending"])
        for c in await redis.xinfo_consumers("s:recovery", "g")
    }


async def test_dead_consumers_are_removed_and_ones_with_pending_entries_kept(redis: RedisClient) -> None:
    async def handle(_event: object) -> None:
        return None

    living = StreamConsumer(redis, "s:recovery", "g", "living", handle)
    await living.ensure_group()
    await _deliver(redis, "gone", ack=True)  # a dead instance's consumer: nothing pending
    await _deliver(redis, "stuck", ack=False)  # died holding an entry: kept until it is claimed
    await _deliver(redis, "living", ack=True)
    assert set(await _consumers(redis)) == {"gone", "stuck", "living"}

    async def removed() -> list[str]:
        while True:
            found = await living.remove_dead_consumers(idle_ms=200)
            if found:
                return found
            await asyncio.sleep(0.05)

    assert await asyncio.wait_for(removed(), 10) == ["gone"]
    assert await _consumers(redis) == {"stuck": 1, "living": 0}
