"""A CRM amendment after approval reaches the run: before the order, before booking, after booking."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from contracts import OPPORTUNITY_AMENDED, Opportunity, new_event
from process_apis.controls import load_mapping_set
from process_apis.errors import RunNotResumable
from process_apis.workers import QuoteToCashWorkers
from process_apis.workflows import Amendment, QuoteToCash, RetryPolicy, RunStore
from servicekit import RedisClient
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity

RUN = f"q2c-{DEMO2}"
ORDER = f"SF-{DEMO2}"
#: The approved deal: 2 x 1,500.00 GBP = 3,000.00; its amendment: 4 x 5,000.00 = 20,000.00.
RAISED = opportunity(lines=(("FIG-SUPP", "4", "5000.00"),))


def _engine(redis: RedisClient, erp: FakeErp, planning: FakePlanning | None = None) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(opportunity()),
        erp=erp,
        planning=planning or FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
    )


def _lost() -> Opportunity:
    return msgspec.structs.replace(opportunity(), stage="Closed Lost", is_won=False, is_closed=True)


async def test_an_amendment_before_the_order_exists_is_what_the_run_validates_and_posts(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = _engine(redis, erp)
    await engine.start(DEMO2, actor="client:demo")
    amended = await engine.amend(Amendment(opportunity=RAISED), actor="crm-event:w")
    assert amended is not None
    assert (amended.state, amended.gates[-1].gate) == ("received", "received")
    assert "amount: 3000.00 -> 20000.00" in amended.gates[-1].detail
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "order_created"
    assert erp.orders[ORDER].total.amount == Decimal("20000.00")


async def test_an_amendment_fixing_a_refused_deal_settles_its_exception_and_validates_again(
    redis: RedisClient,
) -> None:
    erp = FakeErp()
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(opportunity(amount="3100.00")),
        erp=erp,
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
    )
    await engine.start(DEMO2, actor="client:demo")
    parked = await engine.advance(RUN, actor="worker:a")
    assert parked is not None
    assert parked.state == "failed"  # the lines do not sum to the amount
    await engine.amend(Amendment(opportunity=opportunity()), actor="crm-event:w")
    record = await engine.exceptions.get(f"exc-{RUN}-1")
    assert record is not None
    assert record.status == "resolved"
    assert "amount: 3100.00 -> 3000.00" in (record.history[-1].note or "")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "order_created"


async def test_an_amendment_before_booking_updates_the_erp_order_and_what_planning_gets(redis: RedisClient) -> None:
    erp, planning = FakeErp(), FakePlanning()
    engine = _engine(redis, erp, planning)
    await engine.start(DEMO2, actor="client:demo")
    waiting = await engine.advance(RUN, actor="worker:a")
    assert waiting is not None
    assert waiting.state == "order_created"
    order_id = erp.orders[ORDER].id
    event = new_event(source="/system-apis/crm", type=OPPORTUNITY_AMENDED, data=msgspec.to_builtins(RAISED))
    await QuoteToCashWorkers(engine, "w").on_crm_event(event)

    run = await engine.get(RUN)
    assert run.state == "order_created"  # still waiting for booking
    gate = run.gates[-1]
    assert gate.detail.startswith("amended in CRM after approval: amount: 3000.00 -> 20000.00; lines: ")
    assert f"ERP sales order {order_id} ({ORDER}) updated" in gate.detail
    # The same order (same external id), written under a key of the amendment, with the new values.
    assert (erp.orders[ORDER].id, erp.orders[ORDER].total.amount) == (order_id, Decimal("20000.00"))
    op, target, key = erp.calls[-1]
    assert (op, target) == ("upsert_sales_order", ORDER)
    assert key.startswith(f"q2c:{DEMO2}:amend-order-")
    # A repeat of the event changes nothing more.
    await QuoteToCashWorkers(engine, "w").on_crm_event(event)
    assert len([c for c in erp.calls if c[0] == "upsert_sales_order"]) == 2
    # Booked: planning gets the amended amount.
    erp.book(ORDER)
    done = await engine.advance(RUN, actor="worker:a", check_erp=True)
    assert done is not None
    assert done.state == "completed"
    load, _ = planning.loads[-1]
    assert sum((b.amount.amount for b in load.bookings), Decimal("0")) == Decimal("20000.00")


async def test_an_amendment_after_booking_is_an_exception_and_moves_nothing(redis: RedisClient) -> None:
    erp, planning = FakeErp(book_on_create=True), FakePlanning()
    engine = _engine(redis, erp, planning)
    await engine.start(DEMO2, actor="client:demo")
    completed = await engine.advance(RUN, actor="worker:a")
    assert completed is not None
    assert completed.state == "completed"
    calls, loads = len(erp.calls), len(planning.loads)

    run = await engine.amend(Amendment(opportunity=RAISED), actor="crm-event:w")
    assert run is not None
    assert (run.state, run.exception_id) == ("failed", f"exc-{RUN}-1")
    record = await engine.exceptions.get(f"exc-{RUN}-1")
    assert record is not None
    assert (record.reason_code, record.owner_team, record.status, record.gate) == (
        "amended_after_booking",
        "order-management",
        "open",
        "amended",
    )
    assert "amount: 3000.00 -> 20000.00" in record.detail
    assert [(e.location, e.message) for e in record.errors or []][:1] == [("$.amount", "3000.00 -> 20000.00")]
    # Nothing downstream moved: no ERP write, no planning load; the run still works from what was booked.
    assert (len(erp.calls), len(planning.loads)) == (calls, loads)
    assert erp.orders[ORDER].total.amount == Decimal("3000.00")
    source = await engine.store.source(RUN)
    assert source.opportunity.amount.amount == Decimal("3000.00")
    assert source.amended is not None
    assert source.amended.amount.amount == Decimal("20000.00")
    # The event delivered again (streams deliver at least once) opens no second exception.
    again = await engine.amend(Amendment(opportunity=RAISED), actor="crm-event:w")
    assert again is not None
    assert (again.exception_id, again.exceptions) == (run.exception_id, 1)


async def test_a_deal_lost_before_booking_closes_its_erp_order(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = _engine(redis, erp)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    run = await engine.amend(Amendment(opportunity=_lost()), actor="crm-event:w")
    assert run is not None
    assert run.compensation is not None
    assert (run.state, run.compensation.outcome) == ("dead_lettered", "order_closed")
    assert "stage: Closed Won -> Closed Lost" in run.gates[-1].detail
    assert erp.orders[ORDER].status == "closed"


async def test_a_deal_lost_after_booking_asks_for_a_manual_reversal(redis: RedisClient) -> None:
    erp = FakeErp(book_on_create=True)
    engine = _engine(redis, erp)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    run = await engine.amend(Amendment(opportunity=_lost()), actor="crm-event:w")
    assert run is not None
    assert run.state == "failed"
    record = await engine.exceptions.get(run.exception_id or "")
    assert record is not None
    assert (record.reason_code, record.owner_team) == ("manual_reversal_required", "order-management")
    assert erp.orders[ORDER].id in record.detail
    assert "stage: Closed Won -> Closed Lost" in record.detail
    assert erp.orders[ORDER].status == "pending_fulfillment"  # still booked: people reverse it
    assert run.compensation is not None
    assert (run.compensation.outcome, run.compensation.exception_id) == ("reversal_required", record.id)
    with pytest.raises(RunNotResumable, match="abandoned"):
        await engine.resume(RUN, actor="client:ops", via="retry")


async def test_an_amendment_that_overtakes_its_approval_starts_the_run_with_the_new_values(
    redis: RedisClient,
) -> None:
    erp = FakeErp()
    engine = _engine(redis, erp)
    event = new_event(source="/system-apis/crm", type=OPPORTUNITY_AMENDED, data=msgspec.to_builtins(RAISED))
    await QuoteToCashWorkers(engine, "w").on_crm_event(event)
    source = await engine.store.source(RUN)
    assert source.opportunity.amount.amount == Decimal("20000.00")


async def test_an_order_booked_before_the_run_heard_of_it_is_not_changed_by_an_amendment(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = _engine(redis, erp)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    erp.book(ORDER)  # the booking event has not reached the run yet
    run = await engine.amend(Amendment(opportunity=RAISED), actor="crm-event:w")
    assert run is not None
    record = await engine.exceptions.get(run.exception_id or "")
    assert record is not None
    assert record.reason_code == "amended_after_booking"
    assert erp.orders[ORDER].total.amount == Decimal("3000.00")


async def test_retrying_an_amendment_after_booking_approves_it_erp_and_forecast_follow(redis: RedisClient) -> None:
    erp, planning = FakeErp(book_on_create=True), FakePlanning()
    engine = _engine(redis, erp, planning)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    parked = await engine.amend(Amendment(opportunity=RAISED), actor="crm-event:w")
    assert parked is not None

    resumed = await engine.resume(RUN, actor="person:controller", via="retry", note="customer signed the upsell")
    assert resumed.state == "order_booked"
    assert "amendment approved (amount: 3000.00 -> 20000.00" in resumed.gates[-1].detail
    # The ERP order (same external id, same id) holds the amended values ...
    assert erp.orders[ORDER].total.amount == Decimal("20000.00")
    done = await engine.advance(RUN, actor="worker:a")
    assert done is not None
    assert done.state == "completed"
    # ... and the committed forecast is loaded again with the booked amount.
    load, _ = planning.loads[-1]
    assert {b.amount.amount for b in load.bookings} == {Decimal("20000.00")}
    record = await engine.exceptions.get(parked.exception_id or "")
    assert record is not None
    assert record.status == "resolved"
    source = await engine.store.source(RUN)
    assert (source.opportunity.amount.amount, source.amended) == (Decimal("20000.00"), None)


async def test_an_amendment_that_fails_validation_is_not_approved_by_a_retry(redis: RedisClient) -> None:
    erp = FakeErp(book_on_create=True)
    engine = _engine(redis, erp)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    await engine.amend(Amendment(opportunity=opportunity(amount="20000.00")), actor="crm-event:w")
    with pytest.raises(RunNotResumable, match=r"lines sum to 3000\.00, the opportunity amount is 20000\.00"):
        await engine.resume(RUN, actor="person:controller", via="retry")
    assert erp.orders[ORDER].total.amount == Decimal("3000.00")
    assert (await engine.get(RUN)).state == "failed"
