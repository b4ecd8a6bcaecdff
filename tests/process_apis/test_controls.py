"""Controls as versioned data: mapping sets through the API, rule sets, and fix-then-retry."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import OPPORTUNITY_APPROVED, new_event
from contracts.streams import CRM_EVENTS
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until

APAC = "0068d00000APAC1AAA"


def with_apac(mapping: dict[str, Any]) -> dict[str, Any]:
    regions = {**mapping["regions"], "APAC": {"legal_entity": "US01", "subsidiary_id": "1", "currencies": ["USD"]}}
    return {"regions": regions, "products": mapping["products"], "description": "APAC books through US01"}


async def test_fixing_the_mapping_and_retrying_completes_the_parked_run(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(opportunity(APAC, region="APAC", currency="USD", account_id="0018d00000APACAAAA"))
    async with process_api(settings_for(systems, redis_url, four_eyes=False)) as client:
        active = (await client.get("/v1/mappings/default")).json()
        assert (active["number"], active["active"], active["mapping"]["version"]) == (1, True, "default-v1")
        rules = (await client.get("/v1/rules/quote-to-cash")).json()
        assert rules["version"] == "quote-to-cash-v1"
        assert "tax_jurisdiction_present" in [r["id"] for r in rules["rules"]]
        assert (await client.get("/v1/rules/nope")).status_code == 404

        await client.post(RUNS, json={"opportunity_id": APAC})
        parked = await run_reaches(client, f"q2c-{APAC}", "failed")
        assert parked["exception_id"] == f"exc-q2c-{APAC}-1"

        broken = with_apac(active["mapping"])
        broken["regions"]["APAC"]["subsidiary_id"] = "sub-one"
        refused = await client.put("/v1/mappings/default", json=broken)
        assert refused.status_code == 422, refused.text
        assert "subsidiary_id" in refused.json()["detail"]
        assert (await client.get("/v1/mappings/default")).json()["number"] == 1

        created = await client.put("/v1/mappings/default", json=with_apac(active["mapping"]))
        assert created.status_code == 201, created.text
        assert (created.json()["number"], created.json()["mapping"]["version"]) == (2, "default-v2")
        old = (await client.get("/v1/mappings/default/versions/1")).json()
        assert (old["active"], "APAC" in old["mapping"]["regions"]) == (False, False)
        assert (await client.get("/v1/mappings/default/versions/9")).status_code == 404

        retried = await client.post(f"/v1/exceptions/exc-q2c-{APAC}-1/retry", json={"note": "APAC mapped"})
        assert retried.status_code == 202, retried.text
        assert retried.json()["status"] == "retrying"
        run = await run_reaches(client, f"q2c-{APAC}", "order_created")
        assert (run["mapping_version"], run["rule_set_version"], run["legal_entity"]) == (
            "default-v2",
            "quote-to-cash-v1",
            "US01",
        )
        settled = (await client.get(f"/v1/exceptions/exc-q2c-{APAC}-1")).json()
        assert settled["status"] == "resolved"
        assert [h["action"] for h in settled["history"]] == ["opened", "retry", "auto_resolved"]
        assert systems.orders[f"SF-{APAC}"].subsidiary_id == "1"

        # A replay of a run that is not parked is refused.
        again = await client.post(f"/v1/runs/q2c-{APAC}/replay", json={})
        assert again.status_code == 409
        assert (await client.post("/v1/runs/q2c-nope/replay", json={})).status_code == 404


async def test_approved_events_start_runs_and_duplicates_collapse(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    deal = opportunity("0068d00000EVT01AAA", account_id="0018d00000EVTACAAA")
    systems.reset()
    publisher = StreamPublisher(redis, CRM_EVENTS)
    for _ in range(2):
        await publisher.publish(
            new_event(
                source="fig://system-apis/crm",
                type=OPPORTUNITY_APPROVED,
                data=msgspec.to_builtins(deal),
                subject=deal.id,
                correlation_id="corr-evt",
            )
        )
    systems.accounts[deal.account_id] = account_for(deal)
    async with process_api(settings_for(systems, redis_url)) as client:
        run = await run_reaches(client, f"q2c-{deal.id}", "order_created")
        assert (run["origin"], run["correlation_id"]) == ("event", "corr-evt")
        assert len([c for c in systems.of("erp", "PUT") if c.path.startswith("/v1/sales-orders/")]) == 1
        assert systems.of("crm", "GET") == [c for c in systems.of("crm", "GET") if "/accounts/" in c.path]

        async def counted() -> bool:
            summary = (await client.get("/v1/ops/summary")).json()
            return bool(summary["orders_created"] == 1)

        await until(counted)
        summary = (await client.get("/v1/ops/summary", params={"legal_entity": "GB01"})).json()
        assert (summary["orders_created_automatically"], summary["share_of_automated_postings"]) == (1, "1.0000")
        assert summary["orders_awaiting_booking"] == 1  # the GB01 run waits for ERP booking
        other = (await client.get("/v1/ops/summary", params={"legal_entity": "DE01"})).json()
        assert (other["orders_created"], other["share_of_automated_postings"]) == (0, None)
        assert (other["orders_awaiting_booking"], other["forecast_refresh_lag_seconds"]) == (0, None)
