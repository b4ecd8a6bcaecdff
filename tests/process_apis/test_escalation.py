"""SLA escalation: an exception past its SLA goes to its owner team's escalation target, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts import AccountingPeriod
from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until


async def test_exceptions_past_their_sla_are_escalated_to_the_owner_teams_target(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity("0068d00000ESC01AAA", currency="EUR")  # GB01 sells in GBP: finance-master-data
    fresh = opportunity("0068d00000ESC02AAA", currency="EUR", account_id="0018d00000ESC02AAA")
    systems.reset(deal, fresh)
    systems.periods.append(AccountingPeriod(legal_entity="DE01", subsidiary_id="2", period="2026-11", status="open"))
    settings = settings_for(systems, redis_url, booking_sweep_interval=0.05, escalation_interval=0.05, four_eyes=False)
    async with process_api(settings) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        await run_reaches(client, f"q2c-{deal.id}", "failed")
        period = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "DE01", "period": "2026-11"})
        actuals_exc = period.json()["exception_id"]  # period_open, owned by accounting, 24 h SLA
        deal_exc = f"exc-q2c-{deal.id}-1"
        assert (await client.get("/v1/exceptions", params={"escalated": "true"})).json()["items"] == []

        # A day and an hour later both are past their 24 h SLA; a newer one is not.
        engine = client.app.state.q2c
        later = datetime.now(UTC) + timedelta(hours=25)
        engine.clock = lambda: later
        assert (await client.post(RUNS, json={"opportunity_id": fresh.id})).status_code == 202
        await run_reaches(client, f"q2c-{fresh.id}", "failed")

        async def escalated() -> bool:
            items = (await client.get("/v1/exceptions", params={"escalated": "true"})).json()["items"]
            return len(items) == 2

        await until(escalated)
        items = (await client.get("/v1/exceptions", params={"escalated": "true"})).json()["items"]
        by_id = {e["id"]: e for e in items}
        assert (by_id[deal_exc]["escalated_to"], by_id[actuals_exc]["escalated_to"]) == (
            "finance-controller",
            "chief-accountant",
        )
        assert by_id[deal_exc]["status"] == "open"  # escalation does not settle anything
        assert by_id[deal_exc]["escalated_at"].startswith(later.date().isoformat())
        not_escalated = (await client.get("/v1/exceptions", params={"escalated": "false"})).json()["items"]
        assert [e["id"] for e in not_escalated] == [f"exc-q2c-{fresh.id}-1"]

        summary = (await client.get("/v1/ops/summary")).json()
        assert summary["escalated_exceptions"] == 2
        assert summary["escalations_by_target"] == {"finance-controller": 1, "chief-accountant": 1}
        de01 = (await client.get("/v1/ops/summary", params={"legal_entity": "DE01"})).json()
        assert de01["escalations_by_target"] == {"chief-accountant": 1}

        # Another day: the newer one is escalated too, the others keep when they were escalated.
        much_later = later + timedelta(hours=25)
        engine.clock = lambda: much_later

        async def all_escalated() -> bool:
            items = (await client.get("/v1/exceptions", params={"escalated": "false"})).json()["items"]
            return not items

        await until(all_escalated)
        assert (await client.get(f"/v1/exceptions/{deal_exc}")).json()["escalated_at"] == by_id[deal_exc][
            "escalated_at"
        ]
        # Resolving one takes it out of the summary's count (the record keeps when it was escalated).
        await client.post(f"/v1/exceptions/{deal_exc}/resolve", json={"note": "fixed in CRM"})
        assert (await client.get("/v1/ops/summary")).json()["escalated_exceptions"] == 2
        assert (await client.get(f"/v1/exceptions/{deal_exc}")).json()["escalated_to"] == "finance-controller"
