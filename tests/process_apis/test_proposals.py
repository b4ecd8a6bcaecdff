"""Four eyes: mapping-set changes and exception outcomes are proposals a second person approves."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from process_apis.controls import load_mapping_set, load_rule_set
from process_apis.workflows import RunStore
from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2, opportunity
from tests.process_apis.support import RUNS, process_api, settings_for, until
from tests.tokens import TestIssuer

SCOPES = [
    "q2c:read", "q2c:write", "exceptions:read", "exceptions:write", "controls:read", "controls:write",
    "approvals:read", "approvals:write", "audit:read",
]  # fmt: skip
DEAL = opportunity(
    "0068d00000FOUREYES", region="DACH", currency="EUR", lines=(("FIG-SUPP", "1", "2400.00"),), amount="1.00"
)


def _auth(issuer: TestIssuer, subject: str, entities: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(SCOPES, subject=subject, legal_entities=entities)}"}


def _mapping(**currencies: list[str]) -> dict[str, Any]:
    body = msgspec.to_builtins(load_mapping_set())
    for region, values in currencies.items():
        body["regions"][region]["currencies"] = values
    return {"regions": body["regions"], "products": body["products"]}


async def _exception(client: Any, headers: dict[str, str]) -> str:
    assert (await client.post(RUNS, json={"opportunity_id": DEAL.id}, headers=headers)).status_code == 202

    async def failed() -> bool:
        run = (await client.get(f"{RUNS}/q2c-{DEAL.id}", headers=headers)).json()
        return bool(run.get("exception_id"))

    await until(failed)
    return str((await client.get(f"{RUNS}/q2c-{DEAL.id}", headers=headers)).json()["exception_id"])


def _type(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


async def test_an_exception_outcome_needs_a_second_person_and_a_fresh_proposal(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(DEAL)
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    maker, checker = _auth(issuer, "ana", ["DE01"]), _auth(issuer, "ben", ["DE01"])
    outsider = _auth(issuer, "uma", ["US01"])
    with issuer.serve() as jwks:
        settings = settings_for(
            systems,
            redis_url,
            auth_required=True,
            jwks_url=f"{jwks}/.well-known/jwks.json",
            token_issuer=issuer.issuer,
            four_eyes=True,
        )
        async with process_api(settings) as client:
            exc_id = await _exception(client, maker)
            direct = await client.post(f"/v1/exceptions/{exc_id}/resolve", json={"note": "fixed"}, headers=maker)
            assert (direct.status_code, _type(direct)) == (409, "approval-required")

            proposed = await client.post(
                f"/v1/exceptions/{exc_id}/proposals", json={"outcome": "resolve", "note": "written off"}, headers=maker
            )
            assert proposed.status_code == 201, proposed.text
            proposal = proposed.json()
            assert (proposal["status"], proposal["proposed_by"], proposal["legal_entities"]) == (
                "pending",
                "ana",
                ["DE01"],
            )
            url = f"/v1/proposals/{proposal['id']}"
            overtaken = await client.post(
                f"/v1/exceptions/{exc_id}/proposals", json={"outcome": "dead_letter", "note": "give up"}, headers=maker
            )
            assert overtaken.status_code == 201, overtaken.text

            own = await client.post(f"{url}/approve", json={}, headers=maker)
            assert (own.status_code, _type(own)) == (403, "own-proposal")
            assert (await client.get(url, headers=outsider)).status_code == 404
            assert (await client.get("/v1/proposals", headers=outsider)).json()["items"] == []
            assert (await client.post(f"{url}/approve", json={}, headers=outsider)).status_code == 404
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "open"

            # While a worker holds the run, nothing is applied and the proposal stays pending.
            async with RunStore(redis).lease(f"q2c-{DEAL.id}"):
                busy = await client.post(f"{url}/approve", json={}, headers=checker)
            assert (busy.status_code, _type(busy)) == (409, "proposal-busy")
            assert (await client.get(url, headers=checker)).json()["status"] == "pending"
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "open"

            approved = await client.post(f"{url}/approve", json={"note": "ok"}, headers=checker)
            assert approved.status_code == 200, approved.text
            assert (approved.json()["status"], approved.json()["decided_by"], approved.json()["result"]) == (
                "approved",
                "ben",
                "resolved",
            )
            record = (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()
            assert record["status"] == "resolved"
            # The audit log holds both people: who proposed it and who approved it, in DE01's chain.
            trail = (await client.get("/v1/audit", params={"legal_entity": "DE01"}, headers=checker)).json()["items"]
            steps = [(e["action"], e["actor"]) for e in trail if e["resource"] == proposal["id"]]
            assert sorted(steps) == [("proposal.approved", "ben"), ("proposal.created", "ana")]
            approval = next(e for e in trail if e["action"] == "proposal.approved")
            assert (approval["detail"]["proposed_by"], approval["detail"]["result"]) == ("ana", "resolved")
            assert record["history"][-1]["actor"] == "client:ben"
            assert "by ana, approved by ben" in record["history"][-1]["note"]
            again = await client.post(f"{url}/approve", json={}, headers=checker)
            assert (again.status_code, _type(again)) == (409, "proposal-decided")

            # Stale: the exception changed (resolved) after the dead-letter was proposed.
            stale = await client.post(f"/v1/proposals/{overtaken.json()['id']}/approve", json={}, headers=checker)
            assert (stale.status_code, _type(stale)) == (409, "stale-proposal")
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "resolved"
            late = await client.post(
                f"/v1/exceptions/{exc_id}/proposals", json={"outcome": "resolve", "note": "x"}, headers=maker
            )
            assert (late.status_code, _type(late)) == (409, "exception-state-conflict")


async def test_a_mapping_change_is_applied_only_by_a_second_person_and_a_stale_one_never(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    maker, checker = _auth(issuer, "ana", ["DE01"]), _auth(issuer, "ben", ["DE01", "US01", "GB01"])
    with issuer.serve() as jwks:
        settings = settings_for(
            systems,
            redis_url,
            workers=False,
            auth_required=True,
            jwks_url=f"{jwks}/.well-known/jwks.json",
            token_issuer=issuer.issuer,
            four_eyes=True,
        )
        async with process_api(settings) as client:
            direct = await client.put("/v1/mappings/default", json=_mapping(DACH=["EUR", "CHF"]), headers=maker)
            assert (direct.status_code, _type(direct)) == (409, "approval-required")
            others = await client.post(
                "/v1/mappings/default/proposals", json=_mapping(NA=["USD", "CAD"]), headers=maker
            )
            assert (others.status_code, _type(others)) == (403, "entity-not-allowed")

            first = (
                await client.post("/v1/mappings/default/proposals", json=_mapping(DACH=["EUR", "CHF"]), headers=maker)
            ).json()
            second = (
                await client.post("/v1/mappings/default/proposals", json=_mapping(DACH=["EUR", "PLN"]), headers=maker)
            ).json()
            third = (
                await client.post("/v1/mappings/default/proposals", json=_mapping(DACH=["EUR", "SEK"]), headers=maker)
            ).json()
            assert (await client.get("/v1/mappings/default", headers=maker)).json()["number"] == 1

            done = await client.post(f"/v1/proposals/{first['id']}/approve", json={}, headers=checker)
            assert (done.status_code, done.json()["result"]) == (200, "default version 2 active"), done.text
            stale = await client.post(f"/v1/proposals/{second['id']}/approve", json={}, headers=checker)
            assert (stale.status_code, _type(stale)) == (409, "stale-proposal")
            assert (await client.get(f"/v1/proposals/{second['id']}", headers=checker)).json()["status"] == "pending"
            rejected = await client.post(
                f"/v1/proposals/{third['id']}/reject", json={"note": "SEK is not sold"}, headers=checker
            )
            assert rejected.status_code == 200, rejected.text

            active = (await client.get("/v1/mappings/default", headers=maker)).json()
            assert (active["number"], active["mapping"]["regions"]["DACH"]["currencies"]) == (2, ["EUR", "CHF"])
            listed = (await client.get("/v1/proposals", headers=checker)).json()["items"]
            assert [(p["id"], p["status"], p["proposed_by"], p["decided_by"]) for p in listed] == [
                (third["id"], "rejected", "ana", "ben"),
                (second["id"], "pending", "ana", None),
                (first["id"], "approved", "ana", "ben"),
            ]
            assert all(p["proposed_at"] for p in listed)
            assert listed[0]["decided_at"]
            pending = (await client.get("/v1/proposals", params={"status": "pending"}, headers=maker)).json()
            assert [p["id"] for p in pending["items"]] == [second["id"]]
    assert json.loads(json.dumps(listed[2]["payload"]))["regions"]["DACH"]["currencies"] == ["EUR", "CHF"]


async def test_rule_sets_are_versioned_diffed_activated_and_rolled_back_with_four_eyes(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    everywhere = ["US01", "DE01", "GB01"]
    maker, checker = _auth(issuer, "ana", everywhere), _auth(issuer, "ben", everywhere)
    de01 = _auth(issuer, "dora", ["DE01"])
    shipped = msgspec.to_builtins(load_rule_set("quote-to-cash"))
    relaxed = {
        "description": "Accounts without a tax jurisdiction are accepted",
        "rules": [{**r, "enabled": False} if r["id"] == "tax_jurisdiction_present" else r for r in shipped["rules"]],
    }
    with issuer.serve() as jwks:
        settings = settings_for(
            systems,
            redis_url,
            workers=False,
            auth_required=True,
            jwks_url=f"{jwks}/.well-known/jwks.json",
            token_issuer=issuer.issuer,
        )
        async with process_api(settings) as client:
            [first] = (await client.get("/v1/rules/quote-to-cash/versions", headers=maker)).json()["items"]
            assert (first["number"], first["active"], first["author"]) == (1, True, "repository")

            narrow = await client.post("/v1/rules/quote-to-cash/proposals", json=relaxed, headers=de01)
            assert (narrow.status_code, _type(narrow)) == (403, "entity-not-allowed")
            twice = {"rules": [shipped["rules"][0], shipped["rules"][0]]}
            invalid = await client.post("/v1/rules/quote-to-cash/proposals", json=twice, headers=maker)
            assert (invalid.status_code, _type(invalid)) == (422, "rule-set-invalid")

            proposal = (await client.post("/v1/rules/quote-to-cash/proposals", json=relaxed, headers=maker)).json()
            assert (await client.get("/v1/rules/quote-to-cash", headers=maker)).json()["version"] == "quote-to-cash-v1"
            approved = await client.post(f"/v1/proposals/{proposal['id']}/approve", json={}, headers=checker)
            assert (approved.status_code, approved.json()["result"]) == (200, "quote-to-cash version 2 active")

            assert (await client.get("/v1/rules/quote-to-cash", headers=maker)).json()["version"] == "quote-to-cash-v2"
            second = (await client.get("/v1/rules/quote-to-cash/versions/2", headers=maker)).json()
            assert (second["active"], second["author"], second["approver"]) == (True, "ana", "ben")
            diff = (
                await client.get(
                    "/v1/rules/quote-to-cash/diff", params={"from_version": 1, "to_version": 2}, headers=maker
                )
            ).json()
            assert (diff["added"], diff["removed"], diff["description_changed"]) == ([], [], True)
            assert [(c["id"], c["after"]["enabled"]) for c in diff["changed"]] == [("tax_jurisdiction_present", False)]
            writer = {"Authorization": f"Bearer {issuer.mint(['q2c:write'], subject='crm-feed')}"}
            run = (await client.post(RUNS, json={"opportunity_id": DEMO2}, headers=writer)).json()
            assert run["rule_set_version"] == "quote-to-cash-v2"

            back = (
                await client.post(
                    "/v1/rules/quote-to-cash/versions/1/activation-proposals", json={"note": "too lax"}, headers=maker
                )
            ).json()
            assert (await client.post(f"/v1/proposals/{back['id']}/approve", json={}, headers=maker)).status_code == 403
            rolled = await client.post(f"/v1/proposals/{back['id']}/approve", json={}, headers=checker)
            assert (rolled.status_code, rolled.json()["result"]) == (200, "quote-to-cash version 1 active")
            versions = (await client.get("/v1/rules/quote-to-cash/versions", headers=maker)).json()["items"]
            assert [(v["number"], v["active"]) for v in versions] == [(1, True), (2, False)]
            assert (await client.get("/v1/rules/quote-to-cash", headers=maker)).json()["version"] == "quote-to-cash-v1"
