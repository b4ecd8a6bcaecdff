"""Abandoning a run compensates its ERP order: closed when not booked, a manual reversal exception when booked."""

from __future__ import annotations

from typing import Any

import pytest

from process_apis.controls import load_mapping_set
from process_apis.errors import DownstreamRejected, RunNotResumable
from process_apis.ops import summarise
from process_apis.workflows import QuoteToCash, RetryPolicy, RunStore
from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for

RUN = f"q2c-{DEMO2}"


async def test_a_run_abandoned_while_its_order_waits_for_booking_closes_the_order(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity()
    systems.reset(deal)
    async with process_api(settings_for(systems, redis_url)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        waiting = await run_reaches(client, f"q2c-{deal.id}", "order_created")
        order_id = waiting["erp_order_id"]
        assert systems.orders[f"SF-{deal.id}"].status == "pending_approval"

        no_note = await client.post(f"/v1/runs/q2c-{deal.id}/abandon", json={})
        assert no_note.status_code == 400
        abandoned = await client.post(f"/v1/runs/q2c-{deal.id}/abandon", json={"note": "deal lost after approval"})
        assert abandoned.status_code == 200, abandoned.text
        run: Any = abandoned.json()
        assert (run["state"], run["compensation"]["outcome"], run["compensation"]["erp_order_id"]) == (
            "dead_lettered",
            "order_closed",
            order_id,
        )
        # The compensating step is in the run's history, and the ERP order is closed.
        assert run["gates"][-1]["gate"] == "dead_lettered"
        assert f"sales order {order_id} closed" in run["gates"][-1]["detail"]
        assert "deal lost after approval" in run["gates"][-1]["detail"]
        assert (systems.orders[f"SF-{deal.id}"].status, systems.orders[f"SF-{deal.id}"].status_code) == ("closed", "H")
        assert [c.path for c in systems.of("erp", "POST")] == [f"/v1/sales-orders/{order_id}/close"]
        # Not waiting for booking any more, never replayed, never abandoned twice.
        assert await redis.zscore("fig:q2c:waiting", f"q2c-{deal.id}") is None
        replay = await client.post(f"/v1/runs/q2c-{deal.id}/replay", json={})
        assert replay.status_code == 409
        again = await client.post(f"/v1/runs/q2c-{deal.id}/abandon", json={"note": "twice"})
        assert (again.status_code, again.json()["type"].rsplit("/", 1)[-1]) == (409, "run-not-abandonable")
        assert (await client.post("/v1/runs/q2c-nope/abandon", json={"note": "x"})).status_code == 404


def _engine(redis: RedisClient, crm: FakeCrm, erp: FakeErp, planning: FakePlanning) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=crm,
        erp=erp,
        planning=planning,
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
    )


async def test_a_booked_order_the_erp_will_not_close_becomes_a_manual_reversal_exception(redis: RedisClient) -> None:
    erp, planning = FakeErp(book_on_create=True), FakePlanning()
    planning.fail.append(DownstreamRejected("planning answered 422: version locked", service="planning"))
    engine = _engine(redis, FakeCrm(opportunity()), erp, planning)
    await engine.start(DEMO2, actor="client:demo")
    parked = await engine.advance(RUN, actor="worker:a")
    assert parked is not None
    assert (parked.state, parked.exception_id) == ("failed", f"exc-{RUN}-1")  # failed after the order was booked

    run = await engine.abandon(RUN, actor="client:ops", note="deal re-papered under a new opportunity")
    assert run.compensation is not None
    assert (run.state, run.compensation.outcome, run.compensation.exception_id) == (
        "failed",
        "reversal_required",
        f"exc-{RUN}-2",
    )
    assert erp.orders[f"SF-{DEMO2}"].status == "pending_fulfillment"  # the ERP refused: still booked
    reversal = await engine.exceptions.get(f"exc-{RUN}-2")
    assert reversal is not None
    assert (reversal.reason_code, reversal.owner_team, reversal.status, reversal.legal_entity) == (
        "manual_reversal_required",
        "order-management",
        "open",
        "GB01",
    )
    assert run.erp_order_id is not None
    assert run.erp_order_id in reversal.detail
    superseded = await engine.exceptions.get(f"exc-{RUN}-1")
    assert superseded is not None
    assert (superseded.status, superseded.history[-1].action) == ("resolved", "resolved")
    assert "exc-q2c-" in (superseded.history[-1].note or "")
    with pytest.raises(RunNotResumable, match="abandoned"):
        await engine.resume(RUN, actor="client:ops", via="retry")
    summary = await summarise(redis, run.updated_at)
    assert summary.exceptions_by_reason == {"manual_reversal_required": 1}


async def test_a_run_abandoned_before_any_order_has_nothing_to_compensate(redis: RedisClient) -> None:
    erp = FakeErp()
    engine = _engine(redis, FakeCrm(opportunity(currency="EUR")), erp, FakePlanning())
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    run = await engine.abandon(RUN, actor="client:ops", note="customer withdrew")
    assert run.compensation is not None
    assert (run.state, run.compensation.outcome) == ("dead_lettered", "nothing_to_compensate")
    assert not [c for c in erp.calls if c[0] == "close_sales_order"]
    record = await engine.exceptions.get(f"exc-{RUN}-1")
    assert record is not None
    assert record.status == "resolved"
    # The deal never reached the ERP: it stays visible as resolved without posting.
    summary = await summarise(redis, run.updated_at)
    assert (summary.unposted_orders, summary.resolved_without_posting) == (0, 1)
