"""Four eyes in the product: on by default, decided only by an approver, and force-retry with overridden values."""

from __future__ import annotations

from typing import Any

from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, settings_for, until
from tests.tokens import TestIssuer

MAKER_SCOPES = ["q2c:read", "q2c:write", "exceptions:read", "exceptions:write", "controls:read", "controls:write"]
APPROVER_SCOPES = [*MAKER_SCOPES, "approvals:read", "approvals:write", "audit:read"]
ALL = ["US01", "DE01", "GB01"]
BROKEN = opportunity("0068d00000FOUR1AAA", region="DACH", currency="EUR", amount="1.00", account_id="0018d00000FE1AAAA")
APAC = opportunity("0068d00000FOUR2AAA", region="APAC", currency="USD", account_id="0018d00000FE2AAAA")
UNTAXED = opportunity("0068d00000FOUR3AAA", region="NA", currency="USD", account_id="0018d00000FE3AAAA")


def _auth(
    issuer: TestIssuer, subject: str, scopes: list[str], entities: list[str], *, via: str | None = None
) -> dict[str, str]:
    """A client's token, or with `via` a person's token signed in through that client (the console)."""
    token = issuer.mint(scopes, subject=subject, legal_entities=entities, client_id=via or subject)
    return {"Authorization": f"Bearer {token}"}


async def _reaches(client: Any, opp_id: str, state: str, headers: dict[str, str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update((await client.get(f"{RUNS}/q2c-{opp_id}", headers=headers)).json())
        return bool(seen.get("state") == state)

    await until(reached)
    return seen


def _type(response: Any) -> str:
    return str(response.json()["type"]).rsplit("/", 1)[-1]


async def _parked(client: Any, opp_id: str, headers: dict[str, str]) -> str:
    assert (await client.post(RUNS, json={"opportunity_id": opp_id}, headers=headers)).status_code == 202
    url = f"{RUNS}/q2c-{opp_id}"

    async def failed() -> bool:
        return bool((await client.get(url, headers=headers)).json().get("exception_id"))

    await until(failed)
    return str((await client.get(url, headers=headers)).json()["exception_id"])


async def test_four_eyes_is_on_by_default_and_only_an_approver_decides(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(BROKEN)
    issuer = TestIssuer(audience="fig-process")
    maker = _auth(issuer, "ana", APPROVER_SCOPES, ALL)  # the role, but never for their own proposal
    no_role = _auth(issuer, "carl", [*MAKER_SCOPES, "approvals:read"], ALL)  # sees proposals, may not decide
    approver = _auth(issuer, "ben", APPROVER_SCOPES, ALL)
    with issuer.serve() as jwks:
        # No `four_eyes` here: the library default is what a deployment gets.
        settings = settings_for(
            systems, redis_url, auth_required=True, jwks_url=f"{jwks}/.well-known/jwks.json", token_issuer=issuer.issuer
        )
        async with process_api(settings) as client:
            exc_id = await _parked(client, BROKEN.id, maker)
            for action, body in (("resolve", {"note": "booked by hand"}), ("dead-letter", {"note": "give up"})):
                direct = await client.post(f"/v1/exceptions/{exc_id}/{action}", json=body, headers=maker)
                assert (direct.status_code, _type(direct)) == (409, "approval-required"), action
                assert f"/v1/exceptions/{exc_id}/proposals" in direct.json()["detail"]
            mapping = (await client.get("/v1/mappings/default", headers=maker)).json()["mapping"]
            put = await client.put(
                "/v1/mappings/default",
                json={"regions": mapping["regions"], "products": mapping["products"]},
                headers=maker,
            )
            assert (put.status_code, _type(put)) == (409, "approval-required")
            assert (await client.get("/v1/mappings/default", headers=maker)).json()["number"] == 1
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "open"

            # Dead-lettering a run that would post money is a proposal; only an approver decides it.
            dead_letter = {"outcome": "dead_letter", "note": "void deal"}
            proposed = await client.post(f"/v1/exceptions/{exc_id}/proposals", json=dead_letter, headers=maker)
            assert proposed.status_code == 201, proposed.text
            url = f"/v1/proposals/{proposed.json()['id']}"
            unauthorised = await client.post(f"{url}/approve", json={}, headers=no_role)
            assert unauthorised.status_code == 403, unauthorised.text
            assert "approvals:write" in unauthorised.json()["detail"]
            own = await client.post(f"{url}/approve", json={}, headers=maker)
            assert (own.status_code, _type(own)) == (403, "own-proposal")
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "open"
            approved = await client.post(f"{url}/approve", json={}, headers=approver)
            assert approved.status_code == 200, approved.text
            assert (approved.json()["proposed_by"], approved.json()["decided_by"]) == ("ana", "ben")
            assert (await client.get(f"/v1/exceptions/{exc_id}", headers=maker)).json()["status"] == "dead_lettered"


async def test_a_force_retry_with_overridden_values_runs_only_when_a_second_person_approves(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    systems.reset(APAC, UNTAXED)
    systems.accounts[UNTAXED.account_id] = account_for(UNTAXED, tax_jurisdiction=None)
    issuer = TestIssuer(audience="fig-process")
    maker = _auth(issuer, "ana", APPROVER_SCOPES, ALL)
    checker = _auth(issuer, "ben", APPROVER_SCOPES, ALL, via="console")  # a person, in the console
    de01 = _auth(issuer, "dora", APPROVER_SCOPES, ["DE01"])
    with issuer.serve() as jwks:
        settings = settings_for(
            systems, redis_url, auth_required=True, jwks_url=f"{jwks}/.well-known/jwks.json", token_issuer=issuer.issuer
        )
        async with process_api(settings) as client:
            apac_exc = await _parked(client, APAC.id, maker)
            record = (await client.get(f"/v1/exceptions/{apac_exc}", headers=maker)).json()
            assert (record["reason_code"], record["gate"]) == ("unmapped_region", "validated")
            proposals = f"/v1/exceptions/{apac_exc}/proposals"

            for body, refusal in (
                ({"outcome": "retry", "note": "x"}, "overrides-invalid"),
                ({"outcome": "resolve", "note": "x", "overrides": {"legal_entity": "US01"}}, "overrides-invalid"),
                ({"outcome": "retry", "note": "x", "overrides": {}}, "overrides-invalid"),
                ({"outcome": "retry", "note": "x", "overrides": {"legal_entity": "SG01"}}, "overrides-invalid"),
            ):
                refused = await client.post(proposals, json=body, headers=maker)
                assert (refused.status_code, _type(refused)) == (422, refusal), body
            # The unmapped run has no entity yet: a DE01-only caller cannot see it, let alone override it.
            hidden = await client.post(
                proposals, json={"outcome": "retry", "note": "x", "overrides": {"legal_entity": "DE01"}}, headers=de01
            )
            assert hidden.status_code == 404

            proposed = await client.post(
                proposals,
                json={"outcome": "retry", "note": "APAC books through US01", "overrides": {"legal_entity": "US01"}},
                headers=maker,
            )
            assert proposed.status_code == 201, proposed.text
            proposal = proposed.json()
            assert (proposal["kind"], proposal["payload"]["overrides"]) == ("exception_retry", {"legal_entity": "US01"})
            url = f"/v1/proposals/{proposal['id']}"
            own = await client.post(f"{url}/approve", json={}, headers=maker)
            assert (own.status_code, _type(own)) == (403, "own-proposal")
            assert (await client.get(f"{RUNS}/q2c-{APAC.id}", headers=maker)).json()["state"] == "failed"

            approved = await client.post(f"{url}/approve", json={"note": "confirmed with tax"}, headers=checker)
            assert approved.status_code == 200, approved.text
            assert approved.json()["result"] == "retrying with legal_entity=US01"
            run = await _reaches(client, APAC.id, "order_created", maker)
            # The shared mapping set is unchanged: the override is this run's alone, and kept on it.
            assert (run["legal_entity"], run["mapping_version"], run["overrides"]) == (
                "US01",
                "default-v1",
                {"legal_entity": "US01"},
            )
            assert (await client.get("/v1/mappings/default", headers=maker)).json()["number"] == 1
            retry_gate = next(g for g in run["gates"] if "with overridden values" in g["detail"])
            assert retry_gate["actor"] == "person:ben"  # the person, not the console they used
            assert "legal_entity=US01" in retry_gate["detail"]
            assert "by ana, approved by ben" in retry_gate["detail"]
            history = (await client.get(f"/v1/exceptions/{apac_exc}", headers=maker)).json()["history"]
            retried = next(h for h in history if h["action"] == "retry")
            assert (retried["actor"], "by ana, approved by ben" in retried["note"]) == ("person:ben", True)
            trail = (await client.get("/v1/audit", params={"legal_entity": "US01"}, headers=checker)).json()["items"]
            steps = {e["action"]: e for e in trail if e["resource"] == proposal["id"]}
            assert (steps["proposal.created"]["actor"], steps["proposal.approved"]["actor"]) == ("ana", "ben")
            assert steps["proposal.approved"]["detail"]["overrides"] == "legal_entity=US01"
            assert steps["proposal.approved"]["detail"]["proposed_by"] == "ana"
            again = await client.post(f"{url}/approve", json={}, headers=checker)
            assert (again.status_code, _type(again)) == (409, "proposal-decided")

            # A missing tax jurisdiction: the confirmed one lets validation pass for this run only.
            tax_exc = await _parked(client, UNTAXED.id, maker)
            taxed = await client.post(
                f"/v1/exceptions/{tax_exc}/proposals",
                json={"outcome": "retry", "note": "NY per contract", "overrides": {"tax_jurisdiction": "US-NY"}},
                headers=maker,
            )
            assert taxed.status_code == 201, taxed.text
            assert taxed.json()["legal_entities"] == ["US01"]
            outsider = await client.get(f"/v1/proposals/{taxed.json()['id']}", headers=de01)
            assert outsider.status_code == 404
            done = await client.post(f"/v1/proposals/{taxed.json()['id']}/approve", json={}, headers=checker)
            assert done.status_code == 200, done.text
            run = await _reaches(client, UNTAXED.id, "order_created", maker)
            assert run["overrides"] == {"tax_jurisdiction": "US-NY"}
            # Once the run moved on, a retry proposal made before is stale and changes nothing.
            late = await client.post(
                f"/v1/exceptions/{tax_exc}/proposals",
                json={"outcome": "retry", "note": "again", "overrides": {"tax_jurisdiction": "US-CA"}},
                headers=maker,
            )
            assert (late.status_code, _type(late)) == (409, "exception-state-conflict")
