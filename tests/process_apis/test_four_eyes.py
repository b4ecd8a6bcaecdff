"""Four eyes in the product: on by default, and decided only by an approver who is not the proposer."""

from __future__ import annotations

from typing import Any

from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, settings_for, until
from tests.tokens import TestIssuer

MAKER_SCOPES = ["q2c:read", "q2c:write", "exceptions:read", "exceptions:write", "controls:read", "controls:write"]
APPROVER_SCOPES = [*MAKER_SCOPES, "approvals:read", "approvals:write", "audit:read"]
ALL = ["US01", "DE01", "GB01"]
BROKEN = opportunity("0068d00000FOUR1AAA", region="DACH", currency="EUR", amount="1.00", account_id="0018d00000FE1AAAA")


def _auth(issuer: TestIssuer, subject: str, scopes: list[str], entities: list[str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(scopes, subject=subject, legal_entities=entities)}"}


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
