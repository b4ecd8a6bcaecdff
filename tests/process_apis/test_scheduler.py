"""The scheduler: one leader by a Redis lease, schedules from a validated file, visible in the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from contracts import PERIOD_CLOSED, AccountingPeriod, ActualsBatch, new_event
from contracts.streams import ERP_EVENTS
from process_apis import create_app
from process_apis.scheduling import LeaderLease, ScheduleError, load_schedules
from process_apis.scheduling.scheduler import STATE_KEY
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import process_api, settings_for, until
from tests.process_apis.test_entities import _token
from tests.tokens import TestIssuer

SCHEDULES = """
[[schedules]]
name = "nightly-reconciliation"
kind = "reconciliation"
at = "02:00"
periods = ["previous", "current"]
tolerance = "0.01"
after_period_close = true

[[schedules]]
name = "reference-data-sync"
kind = "reference_sync"
every_seconds = 1
"""


async def test_one_leader_at_a_time_and_a_deposed_leader_cannot_write(redis: RedisClient) -> None:
    first, second = LeaderLease(redis, ttl=0.3), LeaderLease(redis, ttl=0.3)
    assert await first.refresh()
    assert not await second.refresh()
    assert await first.refresh()  # renewed by its holder
    assert await first.hset(STATE_KEY, "probe", b"first")
    assert not await second.hset(STATE_KEY, "probe", b"second")

    # The first leader stops renewing (it died): the second takes over once the lease lapses.
    async def taken() -> bool:
        return await second.refresh()

    await until(taken, within=5.0)
    assert not await first.hset(STATE_KEY, "probe", b"stale")
    assert await redis.hget(STATE_KEY, "probe") == b"first"
    await second.release()
    assert await first.refresh()


def test_schedules_are_validated_at_start(tmp_path: Path) -> None:
    assert [s.name for s in load_schedules("default").schedules] == [
        "nightly-reconciliation",
        "reference-data-sync",
        "period-close-check",
    ]
    both = tmp_path / "both.toml"
    both.write_text('[[schedules]]\nname = "x"\nkind = "reference_sync"\nat = "02:00"\nevery_seconds = 60\n')
    with pytest.raises(ScheduleError, match="exactly one of `at`"):
        load_schedules(str(both))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[[schedules]]\nname = "x"\nkind = "reference_sync"\nat = "25:00"\n')
    with pytest.raises(ScheduleError, match=r"wrong\.toml"):
        create_app(settings_for(Systems(urls=dict.fromkeys(("crm", "erp", "planning", "idp"), "")), "redis://x",
                                schedules=str(wrong)))  # fmt: skip


async def _schedules(client: Any) -> dict[str, dict[str, Any]]:
    response = await client.get("/v1/schedules")
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["items"]}


async def test_scheduled_reference_sync_and_reconciliation_after_a_period_close(
    systems: Systems, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(SCHEDULES)
    settings = settings_for(systems, redis_url, scheduler=True, schedules=str(path), scheduler_tick=0.05)
    # A mapped item is missing from the ERP: the sync keeps one exception while that lasts.
    systems.reference["items"] = [i for i in systems.reference["items"] if i["id"] != "103"]
    async with process_api(settings) as client:
        seen: dict[str, dict[str, Any]] = {}

        async def synced(times: int, outcome: str) -> bool:
            seen.update(await _schedules(client))
            sync = seen["reference-data-sync"]
            return bool(sync["runs"] >= times and sync["last_run"]["results"][0]["outcome"] == outcome)

        await until(lambda: synced(3, "failed"))
        result = seen["reference-data-sync"]["last_run"]["results"][0]
        assert "ERP item 103 (FIG-SERV) does not exist" in result["detail"]
        page = (await client.get("/v1/exceptions", params={"workflow": "reference_sync"})).json()
        [record] = page["items"]
        assert (record["reason_code"], record["owner_team"]) == ("reference_data_invalid", "finance-master-data")
        assert await redis.get("fig:ref:erp:items") is None  # invalid data is not kept

        systems.reference = systems.reference | {"items": [*systems.reference["items"], {
            "id": "103", "product_code": "FIG-SERV", "name": "FIG Professional services"}]}  # fmt: skip
        await until(lambda: synced(4, "completed"))
        assert (await client.get(f"/v1/exceptions/{record['id']}")).json()["status"] == "resolved"
        raw: Any = await redis.get("fig:ref:erp:items")
        stored = msgspec.json.decode(raw)
        assert [i["product_code"] for i in stored] == ["FIG-PLAT", "FIG-SUPP", "FIG-SERV"]

        nightly = seen["nightly-reconciliation"]
        assert nightly["next_run_at"].endswith("T02:00:00Z")
        assert nightly["last_run"] is None

        # The ERP closes GB01's November: the leader reconciles that entity's period.
        closed = AccountingPeriod(legal_entity="GB01", subsidiary_id="3", period="2026-11", status="closed")
        event = new_event(source="fig://test", type=PERIOD_CLOSED, data=msgspec.to_builtins(closed), event_id="e-c")
        await StreamPublisher(redis, ERP_EVENTS).publish(event)

        async def reconciled() -> bool:
            seen.update(await _schedules(client))
            return seen["nightly-reconciliation"]["last_run"] is not None

        await until(reconciled)
        last = seen["nightly-reconciliation"]["last_run"]
        assert last["trigger"] == "period_close"
        [item] = last["results"]
        # The fixture's approved November deal never reached the ERP: a break, as a report shows.
        assert (item["subject"], item["legal_entity"], item["outcome"]) == ("GB01/2026-11", "GB01", "breaks")
        report = (await client.get(f"/v1/reconciliations/{item['reference']}")).json()
        assert (report["legal_entity"], report["period"], report["tolerance"]) == ("GB01", "2026-11", "0.01")
        assert [b["kind"] for b in report["breaks"]] == ["missing_in_erp"]
        assert seen["nightly-reconciliation"]["next_run_at"] == nightly["next_run_at"]  # the nightly run still due


async def test_a_caller_sees_scheduled_results_of_its_entities_only(
    systems: Systems, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(
        '[[schedules]]\nname = "hourly"\nkind = "reconciliation"\nevery_seconds = 1\nperiods = ["current"]\n'
    )
    issuer = TestIssuer(audience="fig-process")
    everyone = _token(issuer, "controller", ["US01", "DE01", "GB01"])
    de01 = _token(issuer, "de01-analyst", ["DE01"])
    with issuer.serve() as jwks_base:
        auth = {"auth_required": True, "jwks_url": f"{jwks_base}/.well-known/jwks.json", "token_issuer": issuer.issuer}
        settings = settings_for(systems, redis_url, scheduler=True, schedules=str(path), scheduler_tick=0.05, **auth)
        async with process_api(settings) as client:

            async def ran() -> bool:
                response = await client.get("/v1/schedules", headers=everyone)
                return bool(response.json()["items"][0]["runs"] >= 1)

            await until(ran)
            everything = (await client.get("/v1/schedules", headers=everyone)).json()["items"][0]
            assert [r["legal_entity"] for r in everything["last_run"]["results"]] == ["DE01", "GB01", "US01"]
            mine = (await client.get("/v1/schedules", headers=de01)).json()["items"][0]
            assert [r["legal_entity"] for r in mine["last_run"]["results"]] == ["DE01"]
            assert mine["runs"] >= 1
            assert mine["next_run_at"] is not None


async def test_the_period_check_catches_a_close_whose_event_was_lost(
    systems: Systems, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(
        '[[schedules]]\nname = "close-reconciliation"\nkind = "reconciliation"\nat = "02:00"\n'
        "after_period_close = true\n\n"
        '[[schedules]]\nname = "period-check"\nkind = "period_watch"\nevery_seconds = 1\n'
    )
    october = AccountingPeriod(legal_entity="GB01", subsidiary_id="3", period="2026-10", status="closed")
    november = AccountingPeriod(legal_entity="GB01", subsidiary_id="3", period="2026-11", status="open")
    systems.periods += [october, november]
    settings = settings_for(systems, redis_url, scheduler=True, schedules=str(path), scheduler_tick=0.05)
    async with process_api(settings) as client:
        refused = await client.post("/v1/actuals-to-plan/runs", json={"legal_entity": "GB01", "period": "2026-11"})
        assert refused.json()["status"] == "failed"

        async def checked(times: int) -> bool:
            return bool((await _schedules(client))["period-check"]["runs"] >= times)

        await until(lambda: checked(1))
        # The first check only learns what is closed already: October's actuals are not loaded now.
        assert (await client.get("/v1/workflow-runs/a2p-GB01-2026-10")).status_code == 404

        # Accounting closes November; the ERP feed's event is lost. The check notices the close.
        systems.periods[1] = msgspec.structs.replace(november, status="closed")
        systems.actuals[("GB01", "2026-11")] = ActualsBatch(legal_entity="GB01", period="2026-11", currency="GBP",
                                                            lines=[])  # fmt: skip

        async def loaded() -> bool:
            run = (await client.get("/v1/workflow-runs/a2p-GB01-2026-11")).json()
            return bool(run["status"] == "completed")

        await until(loaded)
        settled = (await client.get(f"/v1/exceptions/{refused.json()['exception_id']}")).json()
        assert [h["action"] for h in settled["history"]] == ["opened", "retry", "auto_resolved"]

        async def reconciled() -> bool:
            last = (await _schedules(client))["close-reconciliation"]["last_run"]
            return last is not None and [r["subject"] for r in last["results"]] == ["GB01/2026-11"]

        await until(reconciled)
        assert (await client.get("/v1/workflow-runs/a2p-GB01-2026-10")).status_code == 404


async def test_the_leader_records_each_entitys_figures_of_the_day_and_the_summary_shows_only_the_callers(
    systems: Systems, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text('[[schedules]]\nname = "check"\nkind = "period_watch"\nevery_seconds = 3600\n')
    deal = opportunity("0068d00000HIS1AAAA", currency="USD")  # GB01 sells in GBP: an open exception
    systems.reset(deal)
    issuer = TestIssuer(audience="fig-process")
    everyone = _token(issuer, "controller", ["US01", "DE01", "GB01"])
    gb01 = _token(issuer, "gb01-analyst", ["GB01"])
    with issuer.serve() as jwks_base:
        auth = {"auth_required": True, "jwks_url": f"{jwks_base}/.well-known/jwks.json", "token_issuer": issuer.issuer}
        settings = settings_for(
            systems, redis_url, scheduler=True, schedules=str(path), scheduler_tick=0.05, ops_history_interval=0.1,
            **auth,
        )  # fmt: skip
        async with process_api(settings) as client:
            started = await client.post("/v1/quote-to-cash/runs", json={"opportunity_id": deal.id}, headers=everyone)
            assert started.status_code == 202, started.text
            today = datetime.now(UTC).date().isoformat()

            async def recorded() -> dict[str, Any] | None:
                summary = (await client.get("/v1/ops/summary", params={"from": today}, headers=gb01)).json()
                days = [d for d in summary["history"] if d["open_exceptions"] >= 1]
                return days[0] if days else None

            async def has_day() -> bool:
                return await recorded() is not None

            await until(has_day)
            day = await recorded()
            assert day is not None
            now = (await client.get("/v1/ops/summary", params={"legal_entity": "GB01"}, headers=gb01)).json()
            assert (day["day"], day["legal_entity"]) == (today, "GB01")
            assert (day["open_exceptions"], day["unposted_orders"]) == (now["open_exceptions"], now["unposted_orders"])
            mine = (await client.get("/v1/ops/summary", params={"from": today}, headers=gb01)).json()
            assert {d["legal_entity"] for d in mine["history"]} == {"GB01"}  # not another entity's days
            every = (await client.get("/v1/ops/summary", params={"from": today}, headers=everyone)).json()
            assert {d["legal_entity"] for d in every["history"]} == {"DE01", "GB01", "US01"}
            assert (await client.get("/v1/ops/summary", headers=everyone)).json()["history"] == []  # no window
