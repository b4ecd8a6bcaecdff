"""The quote-to-cash state machine against fake ports and a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest

from contracts import BOOKING_COMMITTED, CloudEvent
from process_apis.controls import load_mapping_set
from process_apis.errors import DownstreamRejected, DownstreamUnavailable, OpportunityNotApproved, OpportunityNotFound
from process_apis.workflows import BookingSignal, OutagePolicy, QuoteToCash, RetryPolicy, RunBusy, RunStore
from process_apis.workflows.store import Effect
from servicekit import RedisClient
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity, rheinwerk
from tests.support import keys_matching

FAST_RETRY = RetryPolicy(retries=2, backoff=0.001, max_backoff=0.005)
RUN = f"q2c-{DEMO2}"
ALL_GATES = [
    "received",
    "validated",
    "customer_resolved",
    "order_created",
    "order_booked",
    "forecast_committed",
    "completed",
]


def engine_for(
    redis: RedisClient, crm: FakeCrm, erp: FakeErp | None = None, planning: FakePlanning | None = None
) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=crm,
        erp=erp or FakeErp(),
        planning=planning or FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=FAST_RETRY,
    )


async def finance_events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange("fig:events:{finance}")
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


async def test_happy_path_passes_every_gate_and_publishes_the_booking(redis: RedisClient) -> None:
    erp, planning = FakeErp(), FakePlanning()
    engine = engine_for(redis, FakeCrm(rheinwerk(is_won=True, approval="approved")), erp, planning)
    run_id = "q2c-0068d00000DEMO1AAA"

    run, created = await engine.start("0068d00000DEMO1AAA", actor="client:demo", correlation_id="corr-1")
    assert created
    assert (run.id, run.state, run.status, run.mapping_version) == (run_id, "received", "running", "default-v1")
    assert await redis.xlen("fig:q2c:work") == 1

    waiting = await engine.advance(run_id, actor="worker:a")
    assert waiting is not None
    assert (waiting.state, waiting.status, waiting.legal_entity) == ("order_created", "waiting", "DE01")
    assert [g.gate for g in waiting.gates] == ALL_GATES[:4]
    customer = erp.customers["SF-0018d00000DEMOAAAA"]
    assert (customer.subsidiary_id, customer.currency, waiting.erp_customer_id) == ("2", "EUR", customer.id)
    order = erp.orders["SF-0068d00000DEMO1AAA"]
    assert [line.item_id for line in order.lines] == ["101", "102"]
    assert order.tran_date == date(2026, 11, 30)
    assert (waiting.erp_order_id, waiting.erp_order_external_id) == (order.id, "SF-0068d00000DEMO1AAA")

    still = await engine.advance(run_id, actor="worker:a")
    assert still is not None
    assert still.state == "order_created"  # nothing moves until the ERP books the order

    done = await engine.advance(
        run_id, actor="erp-event:a", booking=BookingSignal(order_id=order.id, external_id=None, source="event e1")
    )
    assert done is not None
    assert (done.state, done.status, done.error) == ("completed", "completed", None)
    assert [g.gate for g in done.gates] == ALL_GATES
    assert all(g.correlation_id == "corr-1" for g in done.gates)
    assert done.gates[2].idempotency_key == "q2c:0068d00000DEMO1AAA:resolve-customer"
    assert done.planning is not None
    assert (done.planning.successful, done.planning.rows_loaded) == (True, 2)

    [(load, key)] = planning.loads
    assert key == "q2c:0068d00000DEMO1AAA:commit-forecast"
    assert [
        (b.booking_code, b.legal_entity, b.period, b.product_code, str(b.amount.amount)) for b in load.bookings
    ] == [
        (f"SO{order.id}-1", "DE01", "2026-11", "FIG-PLAT", "12000.00"),
        (f"SO{order.id}-2", "DE01", "2026-11", "FIG-SUPP", "2400.00"),
    ]
    [event] = await finance_events(redis)
    assert (event.type, event.id, event.correlationid, event.legalentity) == (
        BOOKING_COMMITTED,
        "q2c:0068d00000DEMO1AAA:booking-committed",
        "corr-1",
        "DE01",
    )
    assert event.data["amount"] == {"amount": "14400.00", "currency": "EUR"}
    assert [b["revenue_category"] for b in event.data["bookings"]] == ["subscription", "support"]
    assert [g.gate for g in await engine.store.history(run_id)] == ALL_GATES
    assert await engine.store.waiting() == []


async def test_starting_twice_returns_the_same_run(redis: RedisClient) -> None:
    crm = FakeCrm(opportunity())
    engine = engine_for(redis, crm)
    first, created = await engine.start(DEMO2, actor="client:demo")
    again, created_again = await engine.start(DEMO2, actor="client:demo")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert await redis.xlen("fig:q2c:work") == 1


async def test_starting_again_a_run_that_lost_its_work_item_queues_it_once_it_is_stale(redis: RedisClient) -> None:
    now = [datetime.now(UTC)]
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(opportunity()),
        erp=FakeErp(),
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=FAST_RETRY,
        clock=lambda: now[0],
    )
    run, _ = await engine.start(DEMO2, actor="client:demo")
    await redis.delete("fig:q2c:work")  # its work item lost (a Redis failover took it)
    await engine.start(DEMO2, actor="client:demo")
    assert await redis.xlen("fig:q2c:work") == 0  # moments later it may just be queued: left alone
    now[0] += timedelta(seconds=11)  # longer than a lease lives: nobody is moving it
    again, created = await engine.start(DEMO2, actor="client:demo")
    assert (again.id, again.state, created) == (run.id, "received", False)
    entries: Any = await redis.xrange("fig:q2c:work")
    [(_, fields)] = entries
    assert msgspec.json.decode(fields[b"event"], type=CloudEvent).data == {"run_id": run.id}
    moved = await engine.advance(run.id, actor="worker:test")
    assert moved is not None
    assert moved.state != "received"


async def test_unapproved_or_unknown_opportunity_writes_nothing(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(rheinwerk()))
    with pytest.raises(OpportunityNotApproved, match=r"stage 'Negotiation/Review', approval status 'pending'"):
        await engine.start("0068d00000DEMO1AAA", actor="client:demo")
    with pytest.raises(OpportunityNotFound):
        await engine.start("0068d00000NOPE0AAA", actor="client:demo")
    assert await keys_matching(redis, "fig:*") == []


async def test_unmapped_region_fails_validation_before_any_erp_call(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = engine_for(redis, FakeCrm(opportunity(region="APAC", currency="USD")), erp)
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert (run.state, run.status) == ("failed", "failed")
    assert run.error is not None
    assert run.error.type.endswith("/validation-failed")
    assert run.error.gate == "validated"
    assert [e.location for e in run.error.errors or []] == ["$.region"]
    assert "'APAC'" in run.error.detail
    assert erp.calls == []


async def test_lines_not_summing_to_the_amount_fail_validation(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity(amount="3500.00")))
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "failed"
    assert run.error is not None
    assert [e.location for e in run.error.errors or []] == ["$.amount.amount"]
    assert "lines sum to 3000.00" in run.error.detail


async def test_currency_not_allowed_for_the_entity_fails_validation(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity(currency="EUR")))  # UKI books in GBP only
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.error is not None
    assert "$.amount.currency" in [e.location for e in run.error.errors or []]


async def test_transient_erp_failure_is_retried_then_succeeds(redis: RedisClient) -> None:
    erp = FakeErp()
    erp.fail["upsert_customer"] = [
        DownstreamUnavailable("erp down", service="erp", downstream_status=503),
        DownstreamUnavailable("erp down", service="erp"),
    ]
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "order_created"
    assert [c[0] for c in erp.calls].count("upsert_customer") == 3
    assert run.gates[2].detail.endswith("after 3 attempts")


async def test_spent_step_retries_park_the_run_with_the_error_for_an_automatic_retry(redis: RedisClient) -> None:
    erp = FakeErp()
    erp.fail["upsert_customer"] = [DownstreamUnavailable("erp down", service="erp", downstream_status=503)] * 3
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    engine.outage = OutagePolicy(horizon=0.0)  # no waiting out the outage: straight to the exception policy
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert (run.state, run.status) == ("failed", "failed")
    assert await redis.zrange("fig:exc:auto-retry", 0, -1) == [RUN.encode()]
    assert run.error is not None
    assert (run.error.status, run.error.gate, run.error.service) == (503, "customer_resolved", "erp")
    assert run.error.type.endswith("/downstream-unavailable")


async def test_permanent_refusal_fails_the_run_without_retrying(redis: RedisClient) -> None:
    erp = FakeErp()
    erp.fail["upsert_sales_order"] = [
        DownstreamRejected("erp answered 422: item 102 is inactive", service="erp", downstream_status=422)
    ]
    failures: list[str] = []

    engine = engine_for(redis, FakeCrm(opportunity()), erp)

    async def on_failure(run: object) -> None:
        failures.append(getattr(run, "id", ""))

    engine.on_failure = on_failure
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "failed"
    assert run.error is not None
    assert "item 102 is inactive" in run.error.detail
    assert run.error.gate == "order_created"
    assert [c[0] for c in erp.calls].count("upsert_sales_order") == 1
    assert failures == [RUN]
    # A failed run stays failed: another worker turn changes nothing.
    again = await engine.advance(RUN, actor="worker:b")
    assert again is not None
    assert (again.state, len(again.gates)) == ("failed", len(run.gates))


async def test_planning_rejection_fails_the_run(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity()), FakeErp(book_on_create=True), FakePlanning(reject=True))
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "failed"
    assert run.error is not None
    assert run.error.gate == "forecast_committed"
    assert run.error.type.endswith("/planning-rejected")
    assert await finance_events(redis) == []


async def test_an_order_booked_on_creation_goes_straight_through(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity()), FakeErp(book_on_create=True))
    await engine.start(DEMO2, actor="client:demo")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert [g.gate for g in run.gates] == ALL_GATES


async def test_booking_for_another_order_does_not_move_the_run(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity()))
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    signal = BookingSignal(order_id="999999", external_id="SF-0068d00000OTHERAAA", source="event x")
    run = await engine.advance(RUN, actor="erp-event:a", booking=signal)
    assert run is not None
    assert run.state == "order_created"


async def test_sweep_check_finds_the_booked_order(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    assert await engine.store.waiting() == [RUN]
    not_yet = await engine.advance(RUN, actor="sweep:a", check_erp=True)
    assert not_yet is not None
    assert not_yet.state == "order_created"
    erp.book(f"SF-{DEMO2}")
    run = await engine.advance(RUN, actor="sweep:a", check_erp=True)
    assert run is not None
    assert run.state == "completed"
    assert run.gates[4].actor == "sweep:a"


async def test_two_workers_never_advance_one_run_at_the_same_time(redis: RedisClient) -> None:
    erp = FakeErp(delay=0.05)
    crm = FakeCrm(opportunity())
    first, second = engine_for(redis, crm, erp), engine_for(redis, crm, erp)
    await first.start(DEMO2, actor="client:demo")

    results = await asyncio.gather(
        first.advance(RUN, actor="worker:a", wait=5.0), second.advance(RUN, actor="worker:b", wait=5.0)
    )
    assert [r.state for r in results if r is not None] == ["order_created", "order_created"]
    assert erp.max_in_flight == 1
    assert [c[0] for c in erp.calls] == ["upsert_customer", "upsert_sales_order"]

    # Without waiting, the second worker is told the run is busy instead of running it twice.
    erp.book(f"SF-{DEMO2}")
    busy = asyncio.create_task(first.advance(RUN, actor="sweep:a", check_erp=True))
    await asyncio.sleep(0.01)
    with pytest.raises(RunBusy):
        await second.advance(RUN, actor="sweep:b", check_erp=True, wait=0.0)
    done = await busy
    assert done is not None
    assert done.state == "completed"


async def test_a_worker_dying_mid_drive_leaves_the_last_commit_and_the_next_drive_posts_once(
    redis: RedisClient,
) -> None:
    """Gates passed in one drive commit together; a worker killed between them leaves the run at
    its last commit, and the next worker redoes the idempotent steps: one customer, one order."""
    erp = FakeErp()
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    await engine.start(DEMO2, actor="client:demo")
    erp.fail["upsert_sales_order"] = [RuntimeError("worker killed")]  # not a ProcessError: nothing parks

    with pytest.raises(RuntimeError, match="worker killed"):
        await engine.advance(RUN, actor="worker:a")
    stored = await engine.store.get(RUN)
    assert stored is not None
    assert stored.state == "received"
    assert [g.gate for g in await engine.store.history(RUN)] == ["received"]

    run = await engine.advance(RUN, actor="worker:b")
    assert run is not None
    assert run.state == "order_created"
    assert [g.gate for g in await engine.store.history(RUN)] == ALL_GATES[:4]
    assert [g.actor for g in run.gates[1:]] == ["worker:b"] * 3
    assert (len(erp.customers), len(erp.orders)) == (1, 1)
    assert run.erp_customer_id == erp.customers[f"SF-{opportunity().account_id}"].id


async def test_effects_a_crash_left_in_the_outbox_are_relayed_first_when_the_lease_is_given_back(
    redis: RedisClient,
) -> None:
    store = RunStore(redis, lock_ttl=10)
    outbox = "fig:q2c:{q2c-x}:outbox"
    leftover = Effect(kind="zadd", key="fig:test:order", member="first", score=1.0)
    await redis.rpush(outbox, msgspec.json.encode(leftover))  # committed, then the relay never ran

    async with store.lease("q2c-x") as lease:
        await store.write("q2c-x", lease, [], [Effect(kind="zadd", key="fig:test:order", member="second", score=2.0)])
        assert lease.exact is None  # the outbox held more than this lease's own entry

    assert await redis.zrange("fig:test:order", 0, -1) == [b"first", b"second"]
    assert await redis.llen(outbox) == 0
    assert await redis.exists("fig:q2c:{q2c-x}:lock") == 0
