"""Accounting periods: actuals runs follow the ERP's period close, and an empty period is no exception."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import msgspec

from contracts import PERIOD_CLOSED, SALES_ORDER_BOOKED, AccountingPeriod, ActualsBatch, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until

A2P = "/v1/actuals-to-plan/runs"


async def _closed_event(redis: RedisClient, period: AccountingPeriod, event_id: str) -> None:
    data = msgspec.to_builtins(period)
    await StreamPublisher(redis, ERP_EVENTS).publish(
        new_event(source="fig://test", type=PERIOD_CLOSED, data=data, event_id=event_id)
    )


async def _run(client: Any, run_id: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update((await client.get(f"/v1/workflow-runs/{run_id}")).json())
        return seen.get("status") == status

    await until(reached)
    return seen


async def test_a_run_refused_for_an_open_period_is_retried_when_the_erp_closes_it(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    open_ = AccountingPeriod(legal_entity="DE01", subsidiary_id="2", period="2026-11", status="open")
    systems.periods.append(open_)
    async with process_api(settings_for(systems, redis_url)) as client:
        refused = (await client.post(A2P, json={"legal_entity": "DE01", "period": "2026-11"})).json()
        assert refused["status"] == "failed"
        exc_id = refused["exception_id"]

        # Accounting closes November: the ERP feed's close event alone finishes the run.
        closed = msgspec.structs.replace(open_, status="closed", closed_at=datetime(2026, 12, 3, tzinfo=UTC))
        systems.periods[0] = closed
        systems.actuals[("DE01", "2026-11")] = ActualsBatch(
            legal_entity="DE01", period="2026-11", currency="EUR", lines=[]
        )
        await _closed_event(redis, closed, "evt-close-nov")
        done = await _run(client, "a2p-DE01-2026-11", "completed")
        assert done["gates"][-1]["gate"] == "completed"
        settled = (await client.get(f"/v1/exceptions/{exc_id}")).json()
        assert settled["status"] == "resolved"
        assert [h["action"] for h in settled["history"]] == ["opened", "retry", "auto_resolved"]
        assert settled["history"][1]["note"] == "the ERP closed 2026-11 for DE01"


async def test_closing_a_period_with_no_activity_is_a_successful_run_with_zero_rows(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    closed = AccountingPeriod(
        legal_entity="DE01", subsidiary_id="2", period="2026-09", status="closed",
        closed_at=datetime(2026, 10, 4, tzinfo=UTC),
    )  # fmt: skip
    systems.periods.append(closed)
    systems.actuals[("DE01", "2026-09")] = ActualsBatch(legal_entity="DE01", period="2026-09", currency="EUR", lines=[])
    async with process_api(settings_for(systems, redis_url)) as client:
        await _closed_event(redis, closed, "evt-close-sep")
        run = await _run(client, "a2p-DE01-2026-09", "completed")
        assert run["result"]["rows_loaded"] == 0
        assert run["result"]["lines"] == 0
        assert "nothing to import" in run["gates"][-2]["detail"]
        assert systems.planning_actuals == []
        page = (await client.get("/v1/exceptions", params={"workflow": "actuals_to_plan"})).json()
        assert page["items"] == []


async def test_quote_to_cash_refuses_a_closed_period_and_posts_into_the_open_one_when_chosen(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity("0068d00000PER1AAAA", close_date=date(2026, 11, 20))
    later = opportunity("0068d00000PER2AAAA", account_id="0018d00000PE2AAAAA", close_date=date(2026, 11, 25))
    systems.reset(deal, later)
    november = AccountingPeriod(legal_entity="GB01", subsidiary_id="3", period="2026-11", status="open")
    systems.periods += [
        november, AccountingPeriod(legal_entity="GB01", subsidiary_id="3", period="2026-12", status="open"),
    ]  # fmt: skip
    async with process_api(settings_for(systems, redis_url)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        await run_reaches(client, f"q2c-{deal.id}", "order_created")  # November is open: dated as closed

        # Accounting closes November; the ERP feed reports it (every instance reads the calendar again).
        closed = msgspec.structs.replace(november, status="closed", closed_at=datetime(2026, 12, 2, tzinfo=UTC))
        systems.periods[0] = closed
        await _closed_event(redis, closed, "evt-close-gb-nov")
        await until(lambda: _stored(redis, "fig:flow:{a2p-GB01-2026-11}:run"))

        assert (await client.post(RUNS, json={"opportunity_id": later.id})).status_code == 202
        failed = await run_reaches(client, f"q2c-{later.id}", "failed")
        assert failed["error"]["type"].endswith("/period-closed")
        assert f"SF-{later.id}" not in systems.orders
        exc_id = failed["exception_id"]
        record = (await client.get(f"/v1/exceptions/{exc_id}")).json()
        assert (record["reason_code"], record["owner_team"], record["gate"]) == (
            "period_closed",
            "accounting",
            "order_created",
        )

        # A plain retry changes nothing (still closed); the choice posts into December.
        plain = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "again"})
        assert plain.status_code == 202
        await until(lambda: _exception_status(client, exc_id, "open"))
        chosen = await client.post(
            f"/v1/exceptions/{exc_id}/retry", json={"note": "post in December", "post_into_open_period": True}
        )
        assert chosen.status_code == 202, chosen.text
        run = await run_reaches(client, f"q2c-{later.id}", "order_created")
        assert run["posting_period"] == "2026-12"
        v2 = (await client.get(f"/v2/quote-to-cash/runs/q2c-{later.id}")).json()
        assert v2["erp"]["posting_period"] == "2026-12"
        assert systems.orders[f"SF-{later.id}"].tran_date == date(2026, 12, 1)
        order = systems.book(f"SF-{later.id}")
        await StreamPublisher(redis, ERP_EVENTS).publish(
            new_event(
                source="fig://test", type=SALES_ORDER_BOOKED, event_id="evt-b-per2",
                data={"sales_order_id": order.id, "external_id": f"SF-{later.id}"},
            )
        )  # fmt: skip
        await run_reaches(client, f"q2c-{later.id}", "completed")
        assert {
            b.period for load in systems.loads for b in load.bookings if b.booking_code.startswith(f"SO{order.id}-")
        } == {"2026-12"}
        settled = (await client.get(f"/v1/exceptions/{exc_id}")).json()
        assert settled["status"] == "resolved"

        # Reconciliation explains the move instead of breaking twice: closed in November (CRM),
        # posted in December (ERP) by accounting's choice, listed as moved in both months' reports.
        for period in ("2026-11", "2026-12"):
            rec = await client.post(
                "/v1/reconciliations", json={"legal_entity": "GB01", "period": period, "tolerance": "0.01"}
            )
            assert rec.status_code == 201, rec.text
            report = rec.json()
            assert not [b for b in report["breaks"] if b["key"] == later.id], (period, report["breaks"])
            assert report["moved"] == [
                {
                    "opportunity_id": later.id,
                    "erp_order_id": order.id,
                    "close_period": "2026-11",
                    "posting_period": "2026-12",
                    "amount": str(later.amount.amount),
                }
            ], period

        # The choice applies only to a closed period's exception.
        other = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "GB01", "period": "2026-12"})
        refused = await client.post(
            f"/v1/exceptions/{other.json()['exception_id']}/retry", json={"post_into_open_period": True}
        )
        assert refused.status_code == 409
        assert "applies only to period_closed" in refused.json()["detail"]


async def _stored(redis: RedisClient, key: str) -> bool:
    return bool(await redis.exists(key))


async def _exception_status(client: Any, exc_id: str, status: str) -> bool:
    return bool((await client.get(f"/v1/exceptions/{exc_id}")).json()["status"] == status)
