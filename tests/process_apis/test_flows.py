"""Customer master sync, actuals to plan and reconciliation through the app, against the HTTP fakes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts import (
    ACCOUNT_CHANGED,
    CUSTOMER_CHANGED,
    PERIOD_CLOSED,
    SALES_ORDER_BOOKED,
    AccountingPeriod,
    ActualsBatch,
    ActualsLine,
    Customer,
    Money,
    new_event,
)
from contracts.streams import CRM_EVENTS, ERP_EVENTS
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until


async def _publish(redis: RedisClient, stream: str, type_: str, data: Any, event_id: str) -> None:
    event = new_event(source="fig://test", type=type_, data=msgspec.to_builtins(data), event_id=event_id)
    await StreamPublisher(redis, stream).publish(event)


async def _run(client: Any, run_id: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        response = await client.get(f"/v1/workflow-runs/{run_id}")
        seen.update(response.json() if response.status_code == 200 else {})
        return seen.get("status") == status

    await until(reached)
    return seen


async def test_customer_master_changes_flow_each_way_with_owned_fields_only(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity()
    account = account_for(deal)
    systems.customers["SF-0018d00000DEMOBAAA"] = Customer(
        id="501", name="Thames Data Ltd", subsidiary_id="3", currency="GBP", external_id="SF-0018d00000DEMOBAAA"
    )
    renamed = msgspec.structs.replace(account, name="Thames Data Group Ltd", billing_country="United Kingdom")
    async with process_api(settings_for(systems, redis_url)) as client:
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, renamed, "evt-acct-1")
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, renamed, "evt-acct-1")  # redelivered
        done = await _run(client, "cms-evt-acct-1", "completed")
        assert [g["gate"] for g in done["gates"]] == ["received", "changes_derived", "applied", "completed"]
        [(service, target, update)] = systems.master_updates
        assert (service, target, update.origin) == ("erp", "SF-0018d00000DEMOBAAA", "crm")
        # Tax jurisdiction is ERP-owned: a CRM-origin update never carries it.
        assert update.changes.fields_set() == ["name", "billing_country", "region"]
        assert systems.customers["SF-0018d00000DEMOBAAA"].name == "Thames Data Group Ltd"

        # The same values coming back (our write's echo) are not sent again.
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, renamed, "evt-acct-2")
        echo = await _run(client, "cms-evt-acct-2", "skipped")
        assert "already holds" in echo["gates"][-1]["detail"]
        # What was sent is remembered for a while, not for ever.
        assert 0 < await redis.ttl("fig:cms:last:crm:SF-0018d00000DEMOBAAA") <= 7 * 86_400

        customer = Customer(
            id="501", name="ignored", subsidiary_id="3", currency="GBP", external_id="SF-0018d00000DEMOBAAA",
            terms="Net 30", credit_limit=Money(amount=Decimal("50000.00"), currency="GBP"),
        )  # fmt: skip
        await _publish(redis, ERP_EVENTS, CUSTOMER_CHANGED, customer, "evt-cust-1")
        await _run(client, "cms-evt-cust-1", "completed")
        back = systems.master_updates[-1]
        assert (back[0], back[1], back[2].origin) == ("crm", "0018d00000DEMOBAAA", "erp")
        assert back[2].changes.fields_set() == ["subsidiary_id", "currency", "terms", "credit_limit", "erp_customer_id"]
        assert back[2].changes.name is None

        # A customer that is not linked to a CRM account is none of our business.
        local = msgspec.structs.replace(customer, id="777", external_id="LOCAL-1")
        await _publish(redis, ERP_EVENTS, CUSTOMER_CHANGED, local, "evt-cust-2")
        await _publish(redis, ERP_EVENTS, CUSTOMER_CHANGED, customer, "evt-cust-1")
        await _run(client, "cms-evt-cust-1", "completed")
        assert (await client.get("/v1/workflow-runs/cms-evt-cust-2")).status_code == 404


async def test_a_customer_quote_to_cash_creates_holds_its_crm_fields_and_their_echo_is_not_sent_back(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity()
    account = msgspec.structs.replace(
        systems.accounts[deal.account_id], billing_country="United Kingdom", industry="Software"
    )
    systems.accounts[deal.account_id] = account
    async with process_api(settings_for(systems, redis_url)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        await run_reaches(client, f"q2c-{deal.id}", "order_created")
        [upsert] = [c.body for c in systems.of("erp", "PUT") if c.path.startswith("/v1/customers/")]
        assert (upsert.name, upsert.region, upsert.industry, upsert.billing_country) == (
            account.name,
            account.region,
            "Software",
            "United Kingdom",
        )

        # The CRM then reports the account changed (the ERP-owned fields arriving there): its
        # CRM-owned fields are what the customer was created with, so nothing is sent to the ERP.
        mirrored = msgspec.structs.replace(account, erp_customer_id=systems.customers[f"SF-{deal.account_id}"].id)
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, mirrored, "evt-mirrored")
        echo = await _run(client, "cms-evt-mirrored", "skipped")
        assert "already holds" in echo["gates"][-1]["detail"]
        assert systems.master_updates == []

        # A real change made in the CRM afterwards is sent.
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, msgspec.structs.replace(account, industry="Retail"), "evt-2")
        await _run(client, "cms-evt-2", "completed")
        [(_, target, update)] = systems.master_updates
        assert (target, update.changes.industry) == (f"SF-{deal.account_id}", "Retail")


async def test_an_existing_customer_keeps_its_crm_fields_and_the_next_account_change_is_sent(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity()
    external_id = f"SF-{deal.account_id}"
    account = msgspec.structs.replace(systems.accounts[deal.account_id], industry="Software")
    systems.accounts[deal.account_id] = account
    # The ERP customer exists and already holds a newer industry (the sync wrote it after the deal
    # was approved): quote-to-cash must neither overwrite it nor count its own values as sent.
    systems.customers[external_id] = Customer(
        id="501", name=account.name, subsidiary_id="3", currency="GBP", external_id=external_id, industry="Retail"
    )
    async with process_api(settings_for(systems, redis_url)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        await run_reaches(client, f"q2c-{deal.id}", "order_created")
        assert systems.customers[external_id].industry == "Retail"

        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, account, "evt-sw")
        await _run(client, "cms-evt-sw", "completed")  # not taken for an echo: the CRM's value is sent
        [(_, target, update)] = systems.master_updates
        assert (target, update.changes.industry) == (external_id, "Software")


async def test_an_ownership_refusal_is_an_exception_and_an_unknown_customer_is_skipped(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    account = account_for(opportunity())
    async with process_api(settings_for(systems, redis_url)) as client:
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, account, "evt-new")
        skipped = await _run(client, "cms-evt-new", "skipped")
        assert "does not exist" in skipped["gates"][-1]["detail"]

        systems.customers["SF-0018d00000DEMOBAAA"] = Customer(
            id="501", name="x", subsidiary_id="3", currency="GBP", external_id="SF-0018d00000DEMOBAAA"
        )
        # The ERP now claims `region` (its ownership table drifted from ours): it refuses with 409.
        systems.refuse_fields.add("region")
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, msgspec.structs.replace(account, name="N2"), "evt-bad")
        failed = await _run(client, "cms-evt-bad", "failed")
        record = (await client.get(f"/v1/exceptions/{failed['exception_id']}")).json()
        assert (record["reason_code"], record["owner_team"], record["workflow"], record["status"]) == (
            "field_ownership",
            "finance-master-data",
            "customer_master_sync",
            "open",
        )
        summary = (await client.get("/v1/ops/summary")).json()
        assert summary["failed_customer_syncs"] == 1
        # Still refused: the retry fails again and the exception stays open, with both attempts.
        exc_id = failed["exception_id"]
        systems.accounts[account.id] = msgspec.structs.replace(account, name="N3")  # CRM moved on meanwhile
        again = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "try again"})
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "open"
        # The ERP's ownership table is fixed: the retry re-reads the account and syncs it as it is now.
        systems.refuse_fields.discard("region")
        retried = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "ownership table fixed"})
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "resolved"
        assert [h["action"] for h in retried.json()["history"]][-1] == "auto_resolved"
        assert systems.customers["SF-0018d00000DEMOBAAA"].name == "N3"
        assert (await client.get("/v1/ops/summary")).json()["failed_customer_syncs"] == 0
        # A sync whose source record is gone cannot be retried: 409, resolve it instead.
        systems.refuse_fields.add("region")
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, msgspec.structs.replace(account, name="N4"), "evt-bad2")
        failed = await _run(client, "cms-evt-bad2", "failed")
        del systems.accounts[account.id]
        gone = await client.post(f"/v1/exceptions/{failed['exception_id']}/retry", json={})
        assert gone.status_code == 409
        assert "no longer exists" in gone.json()["detail"]


async def test_actuals_of_a_closed_period_reach_planning_and_an_open_one_is_refused(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    closed = AccountingPeriod(
        legal_entity="DE01", subsidiary_id="2", period="2026-10", status="closed",
        closed_at=datetime(2026, 11, 5, tzinfo=UTC),
    )  # fmt: skip
    systems.periods += [
        closed,
        AccountingPeriod(legal_entity="DE01", subsidiary_id="2", period="2026-11", status="open"),
    ]
    lines = [
        ActualsLine(account="4000", amount=Money(amount=Decimal("12000.00"), currency="EUR"), product_code="FIG-PLAT"),
        ActualsLine(account="4100", amount=Money(amount=Decimal("2400.00"), currency="EUR"), product_code="FIG-SUPP"),
    ]
    systems.actuals[("DE01", "2026-10")] = ActualsBatch(
        legal_entity="DE01", period="2026-10", currency="EUR", lines=lines
    )
    async with process_api(settings_for(systems, redis_url)) as client:
        await _publish(redis, ERP_EVENTS, PERIOD_CLOSED, closed, "evt-close-1")
        run = await _run(client, "a2p-DE01-2026-10", "completed")
        assert [g["gate"] for g in run["gates"]] == [
            "received", "period_verified", "actuals_loaded", "imported", "completed",
        ]  # fmt: skip
        assert (run["result"]["lines"], run["result"]["total"], run["result"]["rows_loaded"]) == (2, "14400.00", 2)
        again = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "DE01", "period": "2026-10"})
        assert again.status_code == 200
        assert again.json()["id"] == "a2p-DE01-2026-10"
        assert len(systems.planning_actuals) == 1

        refused = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "DE01", "period": "2026-11"})
        assert refused.json()["status"] == "failed"
        record = (await client.get(f"/v1/exceptions/{refused.json()['exception_id']}")).json()
        assert (record["reason_code"], record["owner_team"], record["legal_entity"]) == (
            "period_open",
            "accounting",
            "DE01",
        )
        assert len(systems.planning_actuals) == 1
        assert not [c for c in systems.of("erp", "GET") if "period=2026-11" in c.path]

        # Accounting closes November; retrying the exception continues from the last good gate.
        systems.periods[1] = msgspec.structs.replace(systems.periods[1], status="closed")
        systems.actuals[("DE01", "2026-11")] = msgspec.structs.replace(
            systems.actuals[("DE01", "2026-10")], period="2026-11"
        )
        exc_id = refused.json()["exception_id"]
        retried = await client.post(f"/v1/exceptions/{exc_id}/retry", json={"note": "period closed"})
        assert retried.status_code == 202, retried.text
        done = await _run(client, "a2p-DE01-2026-11", "completed")
        assert [g["gate"] for g in done["gates"]][-5:] == [
            "received", "period_verified", "actuals_loaded", "imported", "completed",
        ]  # fmt: skip
        settled = (await client.get(f"/v1/exceptions/{exc_id}")).json()
        assert [h["action"] for h in settled["history"]] == ["opened", "retry", "auto_resolved"]
        assert len(systems.planning_actuals) == 2


async def test_reconciliation_reports_every_break_as_an_exception(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    november = date(2026, 11, 20)
    deals = [
        opportunity(f"0068d00000REC{n}AAAA", account_id=f"0018d00000RC{n}AAAAA", close_date=november) for n in range(4)
    ]
    systems.reset(*deals)
    async with process_api(settings_for(systems, redis_url)) as client:
        for deal in deals[:3]:
            await client.post(RUNS, json={"opportunity_id": deal.id})
        for deal in deals[:3]:
            await run_reaches(client, f"q2c-{deal.id}", "order_created")
        for deal in deals[:2]:
            order = systems.book(f"SF-{deal.id}")
            booked = {"sales_order_id": order.id, "external_id": f"SF-{deal.id}"}
            await _publish(redis, ERP_EVENTS, SALES_ORDER_BOOKED, booked, f"evt-b-{deal.id}")
        for deal in deals[:2]:
            await run_reaches(client, f"q2c-{deal.id}", "completed")
        systems.book(f"SF-{deals[2].id}")  # booked in the ERP, not (yet) committed in planning
        # deals[3] is closed-won in CRM but never reached the ERP.

        response = await client.post(
            "/v1/reconciliations", json={"legal_entity": "GB01", "period": "2026-11", "tolerance": "0.01"}
        )
        assert response.status_code == 201, response.text
        report = response.json()
        assert response.headers["location"] == f"/v1/reconciliations/{report['id']}"
        assert (report["crm_closed_won"]["records"], report["erp_booked"]["records"]) == (4, 3)
        assert report["status"] == "breaks"
        kinds = sorted((b["kind"], b["key"]) for b in report["breaks"])
        assert kinds == [("missing_in_erp", deals[3].id), ("missing_in_planning", deals[2].id)]
        for item in report["breaks"]:
            record = (await client.get(f"/v1/exceptions/{item['exception_id']}")).json()
            assert (record["reason_code"], record["owner_team"], record["legal_entity"]) == (
                "reconciliation_break",
                "controllership",
                "GB01",
            )
        stored = (await client.get(f"/v1/reconciliations/{report['id']}")).json()
        assert stored == report
        assert (await client.get("/v1/reconciliations/rec-nope")).status_code == 404
        for path, body in (
            ("/v1/reconciliations", {"legal_entity": "FR01", "period": "2026-11", "tolerance": "0.01"}),
            ("/v1/actuals-to-plan/runs", {"legal_entity": "FR01", "period": "2026-10"}),
        ):
            unknown = await client.post(path, json=body)
            assert unknown.status_code == 422, unknown.text
            assert unknown.json()["type"].endswith("/unknown-legal-entity")

        async def counted() -> bool:
            summary = (await client.get("/v1/ops/summary")).json()
            return bool(summary["reconciliation_exceptions_by_entity"] == {"GB01": 2})

        await until(counted)
        summary = (await client.get("/v1/ops/summary")).json()
        assert summary["reconciliation_cycle_time_seconds"] is not None


async def test_customer_sync_and_actuals_runs_parked_by_an_outage_are_retried_automatically(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    closed = AccountingPeriod(legal_entity="DE01", subsidiary_id="2", period="2026-10", status="closed")
    systems.periods.append(closed)
    line = ActualsLine(account="4000", amount=Money(amount=Decimal("12000.00"), currency="EUR"))
    systems.actuals[("DE01", "2026-10")] = ActualsBatch(
        legal_entity="DE01", period="2026-10", currency="EUR", lines=[line]
    )
    account = msgspec.structs.replace(account_for(opportunity()), name="N2")
    systems.accounts[account.id] = account  # the retry re-reads the account from the CRM
    systems.customers["SF-0018d00000DEMOBAAA"] = Customer(
        id="501", name="x", subsidiary_id="3", currency="GBP", external_id="SF-0018d00000DEMOBAAA"
    )
    systems.unavailable |= {"planning", "erp"}
    async with process_api(settings_for(systems, redis_url, booking_sweep_interval=0.1)) as client:
        refused = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "DE01", "period": "2026-10"})
        assert refused.json()["status"] == "failed"
        await _publish(redis, CRM_EVENTS, ACCOUNT_CHANGED, account, "evt-down")
        synced = await _run(client, "cms-evt-down", "failed")
        for run in (refused.json(), synced):
            record = (await client.get(f"/v1/exceptions/{run['exception_id']}")).json()
            assert (record["reason_code"], record["status"], record["retry_policy"]["automatic"]) == (
                "downstream_unavailable",
                "open",
                True,
            )
        # The actuals workflow has its own rule for the reason in the same policy file.
        actuals_exc = (await client.get(f"/v1/exceptions/{refused.json()['exception_id']}")).json()
        assert (actuals_exc["severity"], actuals_exc["retry_policy"]["max_attempts"]) == ("high", 6)

        # The systems come back: the sweep retries both runs by the policy, nobody acts.
        systems.unavailable.clear()
        await _run(client, "a2p-DE01-2026-10", "completed")
        await _run(client, "cms-evt-down", "completed")
        assert len(systems.planning_actuals) == 1
        assert systems.customers["SF-0018d00000DEMOBAAA"].name == "N2"
        for run in (refused.json(), synced):
            settled = (await client.get(f"/v1/exceptions/{run['exception_id']}")).json()
            assert settled["status"] == "resolved"
            assert [h["action"] for h in settled["history"]][-1] == "auto_resolved"
            assert any(h["action"] == "retry" and h["actor"].startswith("sweep:") for h in settled["history"])
