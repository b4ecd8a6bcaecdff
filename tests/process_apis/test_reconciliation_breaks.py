"""Reconciliation breaks keep one exception across reruns, close when fixed, and are rechecked on retry."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from contracts import SALES_ORDER_BOOKED, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for

RECON = {"legal_entity": "GB01", "period": "2026-11", "tolerance": "0.01"}


async def _book(client: Any, systems: Systems, redis: RedisClient, deal_id: str) -> None:
    order = systems.book(f"SF-{deal_id}")
    data = {"sales_order_id": order.id, "external_id": f"SF-{deal_id}"}
    event = new_event(source="fig://test", type=SALES_ORDER_BOOKED, data=data, event_id=f"evt-b-{deal_id}")
    await StreamPublisher(redis, ERP_EVENTS).publish(event)
    await run_reaches(client, f"q2c-{deal_id}", "completed")


async def _exceptions(client: Any) -> list[dict[str, Any]]:
    page = (await client.get("/v1/exceptions", params={"workflow": "reconciliation", "limit": 500})).json()
    return list(page["items"])


async def test_a_rerun_keeps_one_exception_per_break_and_closes_the_fixed_ones(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deals = [opportunity(f"0068d00000BRK{n}AAAA", account_id=f"0018d00000BK{n}AAAAA", close_date=date(2026, 11, 20))
             for n in range(3)]  # fmt: skip
    systems.reset(*deals)
    async with process_api(settings_for(systems, redis_url, four_eyes=False)) as client:
        for deal in deals[:2]:
            assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
            await run_reaches(client, f"q2c-{deal.id}", "order_created")
        await _book(client, systems, redis, deals[0].id)
        systems.book(f"SF-{deals[1].id}")  # booked in the ERP, not committed in planning yet
        # deals[2] is closed-won in the CRM but never reached the ERP.

        first = (await client.post("/v1/reconciliations", json=RECON)).json()
        assert sorted(b["kind"] for b in first["breaks"]) == ["missing_in_erp", "missing_in_planning"]
        assert {b["fingerprint"] for b in first["breaks"]} == {
            f"GB01/2026-11/missing_in_erp/{deals[2].id}",
            f"GB01/2026-11/missing_in_planning/{deals[1].id}",
        }
        second = (await client.post("/v1/reconciliations", json=RECON)).json()
        assert second["id"] != first["id"]
        assert {b["exception_id"] for b in second["breaks"]} == {b["exception_id"] for b in first["breaks"]}
        assert len(await _exceptions(client)) == 2
        assert (await client.get("/v1/ops/summary")).json()["reconciliation_exceptions_by_entity"] == {"GB01": 2}

        # The booking event arrives: the order is committed to planning, so that break is fixed.
        planning_break = next(b for b in first["breaks"] if b["kind"] == "missing_in_planning")
        order = systems.orders[f"SF-{deals[1].id}"]
        event = new_event(
            source="fig://test", type=SALES_ORDER_BOOKED,
            data={"sales_order_id": order.id, "external_id": f"SF-{deals[1].id}"}, event_id="evt-late",
        )  # fmt: skip
        await StreamPublisher(redis, ERP_EVENTS).publish(event)
        await run_reaches(client, f"q2c-{deals[1].id}", "completed")
        third = (await client.post("/v1/reconciliations", json=RECON)).json()
        assert [b["kind"] for b in third["breaks"]] == ["missing_in_erp"]
        closed = (await client.get(f"/v1/exceptions/{planning_break['exception_id']}")).json()
        assert closed["status"] == "resolved"
        assert closed["history"][-1]["action"] == "auto_resolved"
        assert closed["history"][-1]["note"] == f"reconciliation {third['id']} found the break fixed"
        assert [e["status"] for e in await _exceptions(client)].count("open") == 1
        assert (await client.get("/v1/reconciliations/" + first["id"])).json() == first

        # Controllership accepts the remaining break; while it lasts, reruns keep that resolved exception.
        [accepted] = third["breaks"]
        resolved = await client.post(f"/v1/exceptions/{accepted['exception_id']}/resolve", json={"note": "accepted"})
        assert resolved.status_code == 200, resolved.text
        fourth = (await client.post("/v1/reconciliations", json=RECON)).json()
        assert [b["exception_id"] for b in fourth["breaks"]] == [accepted["exception_id"]]
        assert len(await _exceptions(client)) == 2
        assert (await client.get(f"/v1/exceptions/{accepted['exception_id']}")).json()["status"] == "resolved"


async def test_retrying_a_break_exception_reruns_the_check(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity("0068d00000RTY1AAAA", account_id="0018d00000RT1AAAAA", close_date=date(2026, 11, 20))
    systems.reset(deal)
    async with process_api(settings_for(systems, redis_url)) as client:
        report = (await client.post("/v1/reconciliations", json=RECON)).json()
        [item] = report["breaks"]
        exc_id = item["exception_id"]

        # Not fixed yet: the retry reruns the check and the exception is open again, one more failure.
        still = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "checking"})
        assert still.status_code == 202, still.text
        assert still.json()["status"] == "open"
        assert [h["action"] for h in still.json()["history"]] == ["opened", "retry", "failed_again"]
        assert still.json()["failures"] == 2

        # The deal is posted and booked; the retry's rerun finds the break fixed and closes it.
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        await run_reaches(client, f"q2c-{deal.id}", "order_created")
        await _book(client, systems, redis, deal.id)
        fixed = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "deal posted"})
        assert fixed.status_code == 202, fixed.text
        assert fixed.json()["status"] == "resolved"
        assert [h["action"] for h in fixed.json()["history"]][-2:] == ["retry", "auto_resolved"]
        assert fixed.json()["history"][-2]["note"].startswith("deal posted (rechecked by rec-GB01-2026-11-")
        assert len(await _exceptions(client)) == 1

        # The break is back after that (the ERP order was removed): a new exception, not the closed one.
        del systems.orders[f"SF-{deal.id}"]
        again = (await client.post("/v1/reconciliations", json=RECON)).json()
        assert [b["exception_id"] for b in again["breaks"]] != [exc_id]
        assert (await client.get(f"/v1/exceptions/{exc_id}")).json()["status"] == "resolved"
        reopened = await client.get(f"/v1/exceptions/{again['breaks'][0]['exception_id']}")
        assert msgspec.json.decode(reopened.content)["status"] == "open"


async def test_a_reconciliation_of_a_busy_entity_period_is_refused_not_failed(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url, lock_wait=0.2)) as client:
        # Another instance (the scheduler, or a person) is reconciling GB01 November right now.
        await redis.set("fig:flow:{rec-GB01-2026-11}:lock", "another-instance", px=30_000)
        busy = await client.post("/v1/reconciliations", json=RECON)
        assert busy.status_code == 409, busy.text
        assert busy.json()["type"].endswith("/reconciliation-busy")
        await redis.delete("fig:flow:{rec-GB01-2026-11}:lock")
        assert (await client.post("/v1/reconciliations", json=RECON)).status_code == 201
