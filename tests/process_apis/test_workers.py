"""Crash recovery of the workers: reclaimed work items and outboxes left behind by a crash."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from contracts import SALES_ORDER_BOOKED, new_event
from process_apis import create_app
from process_apis.controls import load_mapping_set
from process_apis.workers import WORK_GROUP, QuoteToCashWorkers
from process_apis.workflows import WORK_STREAM, QuoteToCash, RetryPolicy, RunStore
from process_apis.workflows.commands import work_item
from servicekit import Redeliver, RedisClient
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity
from tests.process_apis.support import run_reaches, settings_for

RUN2 = f"q2c-{DEMO2}"


async def test_a_work_item_left_by_a_dead_worker_is_reclaimed(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with AsyncTestClient(create_app(settings_for(systems, redis_url, workers=False))) as no_workers:
        assert (await no_workers.post("/v1/quote-to-cash/runs", json={"opportunity_id": DEMO2})).status_code == 202
    # A worker took the item and died before acknowledging it.
    await redis.xgroup_create(WORK_STREAM, WORK_GROUP, id="0", mkstream=True)
    taken: Any = await redis.xreadgroup(WORK_GROUP, "dead-worker", {WORK_STREAM: ">"}, count=10)
    assert len(taken[0][1]) == 1
    assert (await redis.get(f"fig:q2c:{{{RUN2}}}:run")) is not None

    async with AsyncTestClient(create_app(settings_for(systems, redis_url, claim_idle=0.2))) as client:
        run = await run_reaches(client, RUN2, "order_created")
    assert run["gates"][1]["actor"].startswith("worker:")
    pending: Any = await redis.xpending(WORK_STREAM, WORK_GROUP)
    assert pending["pending"] == 0


async def test_the_sweep_relays_an_outbox_a_crash_left_behind(redis: RedisClient) -> None:
    store = RunStore(redis)
    engine = QuoteToCash(
        store=store,
        crm=FakeCrm(opportunity()),
        erp=FakeErp(),
        planning=FakePlanning(),
        mapping=load_mapping_set(),
        retry=RetryPolicy(retries=0),
    )
    run, _ = await engine.start(DEMO2, actor="client:demo")
    # Simulate a crash between commit and relay: the run's effect is only in its outbox.
    await redis.delete(WORK_STREAM)
    await store.redis.rpush(f"fig:q2c:{{{run.id}}}:outbox", msgspec.json.encode(work_item(run)))
    assert await store.runs_with_outbox() == [run.id]
    await QuoteToCashWorkers(engine, "test").sweep()
    assert await redis.xlen(WORK_STREAM) == 1
    assert await store.runs_with_outbox() == []


async def test_a_work_item_for_a_run_held_by_a_dead_worker_stays_pending(redis: RedisClient) -> None:
    store = RunStore(redis, lock_ttl=0.3)
    engine = QuoteToCash(
        store=store,
        crm=FakeCrm(opportunity()),
        erp=FakeErp(),
        planning=FakePlanning(),
        mapping=load_mapping_set(),
        retry=RetryPolicy(retries=0),
    )
    run, _ = await engine.start(DEMO2, actor="client:demo")
    workers = QuoteToCashWorkers(engine, "test")
    # A worker took the lease and was killed: the lease outlives it until its TTL.
    await redis.set(f"fig:q2c:{{{run.id}}}:lock", "dead-worker", px=300)
    with pytest.raises(Redeliver):
        await workers.on_work(work_item(run).event)  # type: ignore[arg-type]  # the effect carries one
    await asyncio.sleep(0.35)
    await workers.on_work(work_item(run).event)  # type: ignore[arg-type]
    assert (await engine.get(run.id)).state == "order_created"


async def test_the_sweep_reads_the_erp_only_for_runs_waiting_long_enough_and_then_less_often(
    redis: RedisClient,
) -> None:
    erp = FakeErp()
    engine = QuoteToCash(
        store=RunStore(redis),
        crm=FakeCrm(opportunity()),
        erp=erp,
        planning=FakePlanning(),
        mapping=load_mapping_set(),
        retry=RetryPolicy(retries=0),
    )
    run, _ = await engine.start(DEMO2, actor="client:demo")
    await engine.advance(run.id, actor="worker:a")
    assert await engine.store.waiting() == [run.id]
    workers = QuoteToCashWorkers(engine, "test", check_after=0.2)

    def reads() -> int:
        return sum(1 for op, _, _ in erp.calls if op == "get_sales_order")

    await workers.sweep()
    assert reads() == 0  # just entered waiting: its booking event normally comes first
    await asyncio.sleep(0.25)
    await workers.sweep()
    assert reads() == 1
    await workers.sweep()
    assert reads() == 1  # read a moment ago: the next read waits as long as the run has waited
    await asyncio.sleep(0.4)
    erp.book(f"SF-{DEMO2}")
    await workers.sweep()
    assert reads() == 2
    assert await engine.store.waiting() == []
    done = await engine.store.get(run.id)
    assert done is not None
    assert done.gates[4].actor == "sweep:test"


async def test_while_booking_events_arrive_late_the_sweep_waits_longer_before_reading_the_erp(
    redis: RedisClient,
) -> None:
    """A stack that is behind delivers booking events late, not never: the sweep does not add ERP
    reads for runs that have waited less than twice as long as recent events took, and goes back to
    its own `check_after` once events stop arriving."""
    erp = FakeErp()
    first, second = opportunity(), opportunity("0068d00000DEMO3AAA")
    engine = QuoteToCash(
        store=RunStore(redis),
        crm=FakeCrm(first, second),
        erp=erp,
        planning=FakePlanning(),
        mapping=load_mapping_set(),
        retry=RetryPolicy(retries=0),
    )
    workers = QuoteToCashWorkers(engine, "test", check_after=0.2)
    for deal in (first, second):
        run, _ = await engine.start(deal.id, actor="client:demo")
        await engine.advance(run.id, actor="worker:a")

    def reads() -> int:
        return sum(1 for op, _, _ in erp.calls if op == "get_sales_order")

    await asyncio.sleep(0.3)
    order = erp.book(f"SF-{first.id}")
    booked = new_event(source="erp", type=SALES_ORDER_BOOKED, data={"sales_order_id": order.id,
                                                                      "external_id": f"SF-{first.id}"})  # fmt: skip
    await workers.on_erp_event(booked)  # the first run's event came after ~0.3 s
    assert workers.check_after_now(time.time()) >= 0.6

    await workers.sweep()
    assert reads() == 0  # the second run has waited ~0.3 s: its event is late, not lost
    await asyncio.sleep(1.1)  # no event for longer than a second: back to check_after
    assert workers.check_after_now(time.time()) == 0.2
    await workers.sweep()
    assert reads() == 1
