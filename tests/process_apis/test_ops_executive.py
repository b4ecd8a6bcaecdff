"""The executive metrics of the ops summary, recorded as runs change and read per entity and window."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts import (
    OPPORTUNITY_APPROVED,
    SALES_ORDER_BOOKED,
    AccountingPeriod,
    ActualsBatch,
    ActualsLine,
    Money,
    new_event,
)
from contracts.streams import CRM_EVENTS, ERP_EVENTS
from process_apis.workflows.metrics import lag_bucket, period_end, since_period_end_ms
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until

TODAY = datetime.now(UTC).date()
#: A deal approved by the CRM event, closing this month: posted with no manual action.
AUTO = opportunity("0068d00000EXEC1AAA", account_id="0018d00000EX1AAAAA", close_date=TODAY)
#: Started by a client through the API, closing in a long-past month: a manual posting whose
#: booking is committed to planning for another month than the ERP booked it in.
MANUAL = opportunity("0068d00000EXEC2AAA", account_id="0018d00000EX2AAAAA", close_date=date(2020, 1, 15))
#: Lines do not sum to the amount: fails validation, is retried by a person, fails again.
BROKEN = opportunity("0068d00000EXEC3AAA", account_id="0018d00000EX3AAAAA", amount="1.00", close_date=TODAY)


async def _publish(redis: RedisClient, stream: str, type_: str, data: Any, subject: str) -> None:
    event = new_event(source="fig://test", type=type_, data=msgspec.to_builtins(data), subject=subject)
    await StreamPublisher(redis, stream).publish(event)


async def _book(client: Any, redis: RedisClient, systems: Systems, deal_id: str) -> None:
    order = systems.book(f"SF-{deal_id}")
    booked = {"sales_order_id": order.id, "external_id": f"SF-{deal_id}"}
    await _publish(redis, ERP_EVENTS, SALES_ORDER_BOOKED, booked, order.id)
    await run_reaches(client, f"q2c-{deal_id}", "completed")


def _closed_october(systems: Systems) -> None:
    systems.periods.append(
        AccountingPeriod(
            legal_entity="DE01", subsidiary_id="2", period="2026-10", status="closed",
            closed_at=datetime(2026, 11, 5, tzinfo=UTC),
        )
    )  # fmt: skip
    line = ActualsLine(account="4000", amount=Money(amount=Decimal("100.00"), currency="EUR"), product_code="FIG-PLAT")
    systems.actuals[("DE01", "2026-10")] = ActualsBatch(
        legal_entity="DE01", period="2026-10", currency="EUR", lines=[line]
    )


async def test_executive_metrics_come_from_what_the_runs_did_per_entity_and_window(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(AUTO, MANUAL, BROKEN)
    _closed_october(systems)
    await _publish(redis, CRM_EVENTS, OPPORTUNITY_APPROVED, AUTO, AUTO.id)
    async with process_api(settings_for(systems, redis_url, four_eyes=False)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": MANUAL.id})).status_code == 202
        assert (await client.post(RUNS, json={"opportunity_id": BROKEN.id})).status_code == 202
        for deal in (AUTO, MANUAL):
            await run_reaches(client, f"q2c-{deal.id}", "order_created")
            await _book(client, redis, systems, deal.id)
        broken = await run_reaches(client, f"q2c-{BROKEN.id}", "failed")
        retried = await client.post(f"/v1/exceptions/{broken['exception_id']}/retry", json={"note": "try again"})
        assert retried.status_code == 202, retried.text

        async def failed_twice() -> bool:
            return bool((await client.get(f"/v1/exceptions/{broken['exception_id']}")).json()["failures"] == 2)

        await until(failed_twice)
        # A GB01 reconciliation with a break (the broken deal is closed-won but not in the ERP), closed
        # by a person; a DE01 one that balances; DE01's October actuals loaded into plan.
        period = TODAY.strftime("%Y-%m")
        gb = await client.post("/v1/reconciliations", json={"legal_entity": "GB01", "period": period, "tolerance": "0"})
        assert gb.json()["status"] == "breaks", gb.text
        for item in gb.json()["breaks"]:
            closed = await client.post(f"/v1/exceptions/{item['exception_id']}/resolve", json={"note": "ok"})
            assert closed.status_code == 200, closed.text
        de = await client.post(
            "/v1/reconciliations", json={"legal_entity": "DE01", "period": "2026-10", "tolerance": "0"}
        )
        assert de.json()["status"] == "balanced", de.text
        loaded = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "DE01", "period": "2026-10"})
        assert loaded.status_code in (200, 202), loaded.text

        async def summary(**params: str) -> dict[str, Any]:
            response = await client.get("/v1/ops/summary", params=params)
            assert response.status_code == 200, response.text
            return dict(response.json()["executive"])

        async def settled() -> bool:
            return bool((await summary())["close_cycle"]["actuals_loads"] == 1)

        await until(settled)
        everything = await summary()
        assert (everything["automated_postings"], everything["manual_postings"]) == (1, 1)
        assert everything["share_of_automated_postings"] == "0.5000"
        breaks = len(gb.json()["breaks"])
        assert everything["manual_interventions_by_workflow"] == {"quote_to_cash": 1, "reconciliation": breaks}
        assert sum(everything["booking_to_forecast_lag"].values()) == 2
        assert (everything["timing_variance"], everything["timing_variance_runs"]) == ({"GBP": "3000"}, 1)
        close = everything["close_cycle"]
        assert (close["actuals_loads"], close["balanced_reconciliations"]) == (1, 1)
        days_since_october = (datetime.now(UTC) - datetime(2026, 11, 1, tzinfo=UTC)).total_seconds()
        assert 0 < close["actuals_loaded_seconds"] <= days_since_october
        assert 0 < close["balanced_seconds"] <= days_since_october
        assert everything["reconciliation_cycle_time_seconds"] is not None
        day = TODAY.isoformat()
        q2c = next(r for r in everything["error_rates_by_day"] if r["workflow"] == "quote_to_cash")
        assert (q2c["bucket"], q2c["legal_entity"], q2c["runs"], q2c["failures"], q2c["error_rate"]) == (
            day,
            "GB01",
            3,
            2,
            "0.6667",
        )
        year, week, _ = TODAY.isocalendar()
        weekly = {(r["bucket"], r["workflow"], r["legal_entity"]) for r in everything["error_rates_by_week"]}
        assert (f"{year}-W{week:02d}", "quote_to_cash", "GB01") in weekly
        assert (f"{year}-W{week:02d}", "actuals_to_plan", "DE01") in weekly

        # Per entity: DE01 sees its own close and none of GB01's postings, interventions or failures.
        de01 = await summary(legal_entity="DE01")
        assert (de01["automated_postings"], de01["manual_postings"], de01["manual_interventions_by_workflow"]) == (
            0,
            0,
            {},
        )
        assert {r["legal_entity"] for r in de01["error_rates_by_day"]} == {"DE01"}
        assert de01["close_cycle"]["actuals_loads"] == 1
        # Over a window: nothing happened in January 2020; today's window holds everything.
        old = await summary(period="2020-01")
        assert (old["automated_postings"], old["error_rates_by_day"], old["from_day"], old["to_day"]) == (
            0,
            [],
            "2020-01-01",
            "2020-01-31",
        )
        assert {k: v for k, v in (await summary(**{"from": day, "to": day})).items() if "_day" not in k} == {
            k: v for k, v in everything.items() if "_day" not in k
        }
        # `from` after `to` is an empty window; `period` is limited by `from`/`to`.
        empty = await summary(**{"from": day, "to": "2020-01-01"})
        assert (empty["automated_postings"], empty["error_rates_by_day"]) == (0, [])
        month = await summary(period=period, **{"from": day})
        assert (month["from_day"], month["automated_postings"]) == (day, 1)
        for params in ({"period": "2026-13"}, {"from": "2026-02-30"}, {"to": "tomorrow"}):
            refused = await client.get("/v1/ops/summary", params=params)
            assert refused.status_code == 400, params
            assert refused.json()["type"].rsplit("/", 1)[-1] in ("invalid-query", "invalid-request"), params


def test_a_period_ends_at_the_next_months_first_instant_and_lags_fall_in_their_bucket() -> None:
    assert period_end("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("2026-02") == datetime(2026, 3, 1, tzinfo=UTC)
    assert since_period_end_ms("2026-11", datetime(2026, 12, 1, 0, 0, 2, tzinfo=UTC)) == 2000
    assert since_period_end_ms("2026-11", datetime(2026, 11, 30, tzinfo=UTC)) == 0
    assert [lag_bucket(s) for s in (0, 59.9, 60, 299, 3600, 86399, 86400)] == [
        "under_1m", "under_1m", "m1_to_5m", "m1_to_5m", "h1_to_24h", "h1_to_24h", "over_24h",
    ]  # fmt: skip
