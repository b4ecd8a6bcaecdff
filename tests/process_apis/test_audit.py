"""Audit evidence in the process API: decisions are chained with their person, `GET /v1/audit` is entity-scoped."""

from __future__ import annotations

from typing import Any

from servicekit import RedisClient
from servicekit.audit_chain import AuditRecord, verify_entries
from servicekit.audit_store import AuditStore
from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import process_api, settings_for, until
from tests.tokens import TestIssuer

OPP = "0068d00000AUD01AAA"
EXC = f"exc-q2c-{OPP}-1"


def _bearer(issuer: TestIssuer, scopes: list[str], entities: list[str], subject: str) -> dict[str, str]:
    token = issuer.mint(scopes, subject=subject, legal_entities=entities, client_id="finance-portal")
    return {"Authorization": f"Bearer {token}"}


async def test_an_exception_action_is_chained_with_its_person_and_shown_only_to_its_entity(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    defect = opportunity(OPP, account_id="0018d00000AUD01AAA")
    systems.reset(defect)
    systems.accounts["0018d00000AUD01AAA"] = account_for(defect, tax_jurisdiction=None)
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    with issuer.serve() as jwks_base:
        settings = settings_for(
            systems,
            redis_url,
            auth_required=True,
            jwks_url=f"{jwks_base}/.well-known/jwks.json",
            token_issuer=issuer.issuer,
            four_eyes=False,  # one person resolves here; four eyes has its own tests
        )
        analyst = _bearer(issuer, ["q2c:write", "q2c:read", "exceptions:write"], ["GB01"], "ana@example.com")
        gb_auditor = _bearer(issuer, ["audit:read"], ["GB01"], "auditor-gb@example.com")
        de_auditor = _bearer(issuer, ["audit:read"], ["DE01"], "auditor-de@example.com")
        no_scope = _bearer(issuer, ["exceptions:read"], ["GB01"], "ana@example.com")
        async with process_api(settings) as client:
            started = await client.post("/v1/quote-to-cash/runs", json={"opportunity_id": OPP}, headers=analyst)
            assert started.status_code == 202, started.text
            await run_reaches_with(client, analyst)

            async def parked() -> bool:
                return int(await redis.zcard("fig:exc:index")) == 1

            await until(parked)
            resolved = await client.post(
                f"/v1/exceptions/{EXC}/resolve",
                json={"note": "filed manually"},
                headers={**analyst, "X-Correlation-ID": "corr-resolve"},
            )
            assert resolved.status_code == 200, resolved.text

            seen_gb = await client.get("/v1/audit", headers=gb_auditor)
            seen_de = await client.get("/v1/audit", headers=de_auditor)
            asked_for_gb = await client.get("/v1/audit", params={"legal_entity": "GB01"}, headers=de_auditor)
            without_scope = await client.get("/v1/audit", headers=no_scope)
            filtered = await client.get(
                "/v1/audit", params={"action": "exception.resolved", "actor": "ana@example.com"}, headers=gb_auditor
            )
            other_actor = await client.get("/v1/audit", params={"actor": "someone"}, headers=gb_auditor)

    assert seen_gb.status_code == 200, seen_gb.text
    # The run was started for GB01 (its entity is known at admission) and its exception resolved there.
    started_entry, entry = sorted(seen_gb.json()["items"], key=lambda e: e["action"] != "run.started")
    assert (started_entry["action"], started_entry["actor"], started_entry["legal_entity"]) == (
        "run.started",
        "ana@example.com",
        "GB01",
    )
    assert (entry["action"], entry["resource"], entry["legal_entity"], entry["chain"]) == (
        "exception.resolved",
        EXC,
        "GB01",
        "GB01",
    )
    assert (entry["actor"], entry["client"], entry["correlation_id"], entry["outcome"]) == (
        "ana@example.com",
        "finance-portal",
        "corr-resolve",
        "done",
    )
    assert entry["detail"] == {"note": "filed manually"}
    assert verify_entries(seen_gb.json()["items"]) is None  # the first entry of GB01's chain
    assert seen_de.json() == {"items": [], "next_cursor": None}
    assert asked_for_gb.status_code == 403
    assert asked_for_gb.json()["type"].endswith("/entity-not-allowed")
    assert without_scope.status_code == 403
    assert [e["resource"] for e in filtered.json()["items"]] == [EXC]
    assert other_actor.json()["items"] == []


async def run_reaches_with(client: Any, headers: dict[str, str]) -> None:
    async def failed() -> bool:
        response = await client.get(f"/v1/quote-to-cash/runs/q2c-{OPP}", headers=headers)
        return bool(response.json().get("state") == "failed")

    await until(failed)


def _record(n: int, entity: str, time: str, actor: str = "ana", action: str = "run.replayed") -> AuditRecord:
    return AuditRecord(
        time=time,
        actor=actor,
        client="portal",
        action=action,
        resource=f"run-{n}",
        legal_entity=entity,
        correlation_id=f"c-{n}",
        outcome="done",
    )


async def test_the_audit_list_filters_and_pages_across_entities(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    store = AuditStore(redis)
    for n in range(7):
        await store.append(_record(n, "DE01" if n % 2 else "US01", f"2026-11-0{n + 1}T09:00:00.000+00:00"))
    await store.append(_record(7, "DE01", "2026-11-20T09:00:00.000+00:00", actor="bob", action="exception.resolved"))
    await store.append(_record(8, "DE01", "2026-10-31T23:59:59.000+00:00"))
    await store.append(_record(9, "GB01", "2026-12-01T00:00:00.000+00:00"))
    async with process_api(settings_for(systems, redis_url, workers=False)) as client:
        pages: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": 3, "period": "2026-11"}
        while True:
            page = (await client.get("/v1/audit", params=params)).json()
            pages.append(page)
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        de_only = (await client.get("/v1/audit", params={"legal_entity": "DE01", "actor": "bob"})).json()
        by_action = (await client.get("/v1/audit", params={"action": "exception.resolved"})).json()
        bad = [
            (await client.get("/v1/audit", params=p)).status_code
            for p in ({"limit": 0}, {"limit": 501}, {"cursor": "nope"}, {"period": "2026-13"}, {"legal_entity": "x"})
        ]
    items = [e for page in pages for e in page["items"]]
    # November only, both entities, each once; each chain in its own order (entries of one
    # millisecond in two chains come chain by chain).
    assert sorted(e["resource"] for e in items) == [f"run-{n}" for n in range(8)]
    for chain in ("DE01", "US01"):
        seqs = [e["seq"] for e in items if e["chain"] == chain]
        assert seqs == sorted(seqs)
    assert all(len(page["items"]) <= 3 for page in pages)
    assert [e["resource"] for e in de_only["items"]] == ["run-7"]
    assert [e["resource"] for e in by_action["items"]] == ["run-7"]
    assert bad == [400, 400, 400, 400, 400]
