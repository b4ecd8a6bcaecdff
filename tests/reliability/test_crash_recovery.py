"""Fast recovery after a worker dies: short run leases and forecast claims kept alive while their holder
lives, taken over soon after it died; dead consumers removed from their groups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contracts import CommittedBookingsLoad, PlanningImportResult
from process_apis.controls import load_mapping_set
from process_apis.workflows import QuoteToCash, RetryPolicy
from process_apis.workflows.forecast import FORECAST_CLAIMED, ForecastBatcher
from process_apis.workflows.steps import FORECAST_PENDING
from process_apis.workflows.store import LockLost, RunBusy, RunStore
from servicekit import RedisClient, StreamConsumer
from servicekit.streams import EVENT_FIELD
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity

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


class BlockingPlanning(FakePlanning):
    """A planning import that takes as long as the test says (`release`)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        self.started.set()
        await self.release.wait()
        return await super().load_committed_bookings(load, idempotency_key=idempotency_key)


async def test_a_live_forecast_batch_keeps_its_claim_and_a_dead_ones_is_queued_again(redis: RedisClient) -> None:
    planning = BlockingPlanning()
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(opportunity()),
        erp=FakeErp(book_on_create=True),
        planning=planning,
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
        batch_forecast=True,
    )
    run, _ = await engine.start(DEMO2, actor="client:demo")
    assert (await engine.advance(run.id, actor="worker:a") or run).state == "order_booked"
    live = ForecastBatcher(engine, "live", claim_ttl=TTL)
    flushing = asyncio.create_task(live.flush())
    await planning.started.wait()
    claimed = await redis.zscore(FORECAST_CLAIMED, run.id)
    assert claimed is not None

    async def refreshed() -> float:
        while True:
            score = await redis.zscore(FORECAST_CLAIMED, run.id)
            if score is not None and score > claimed:
                return score
            await asyncio.sleep(0.05)

    # The live batcher refreshes its claim while the import runs: the sweep does not take it.
    await asyncio.wait_for(refreshed(), 10)
    sweeper = ForecastBatcher(engine, "sweeper", claim_ttl=TTL)
    assert await sweeper.requeue_stale() == 0
    planning.release.set()
    assert await flushing == 1
    assert (await engine.get(run.id)).state == "completed"

    # A batch whose batcher died (its claim not refreshed for `claim_ttl`) is queued again.
    await redis.zadd(FORECAST_CLAIMED, {"q2c-0068d00000DEAD1AAA": 1.0})
    assert await sweeper.requeue_stale() == 1
    assert await redis.zrange(FORECAST_PENDING, 0, -1) == [b"q2c-0068d00000DEAD1AAA"]
