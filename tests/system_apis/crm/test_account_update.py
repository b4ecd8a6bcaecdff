"""`PATCH /v1/accounts/{id}`: customer-master changes by origin, field ownership, Salesforce mapping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from servicekit.ownership import POLICY_VIOLATIONS_KEY
from servicekit.redis import RedisClient
from system_apis.crm import create_app
from tests.system_apis.crm.support import SandboxAdmin, crm_settings
from tests.tokens import TestIssuer

RHEINWERK = "0018d00000DEMOAAAA"
V = "/services/data/v62.0"


@pytest.fixture
async def api(redis_url: str, sandbox: str, issuer: tuple[TestIssuer, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(crm_settings(redis_url, sandbox, issuer))
    token = issuer[0].mint(["crm:read", "crm:write"])
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def _salesforce(sandbox: str, bearer: dict[str, str], account_id: str = RHEINWERK) -> dict[str, Any]:
    """The Account as Salesforce itself holds it (read over the vendor API, not through ours)."""
    response = httpx.get(f"{sandbox}{V}/sobjects/Account/{account_id}", headers=bearer)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def _patch(api: AsyncTestClient[Any], body: Any, account_id: str = RHEINWERK) -> httpx.Response:
    return await api.patch(f"/v1/accounts/{account_id}", json=body)


async def test_crm_origin_changes_commercial_fields(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str]
) -> None:
    before = _salesforce(sandbox, bearer)
    changes = {"name": "Rheinwerk Analytics SE", "industry": "Finance", "email": "ap@rheinwerk.example"}
    response = await _patch(api, {"origin": "crm", "changes": changes})
    assert response.status_code == 200, response.text
    account = response.json()
    assert (account["id"], account["name"], account["industry"]) == (RHEINWERK, "Rheinwerk Analytics SE", "Finance")
    assert account["last_modified"] > before["SystemModstamp"].replace("+0000", "Z")
    stored = _salesforce(sandbox, bearer)
    assert (stored["Name"], stored["Industry"], stored["Billing_Email__c"]) == (
        "Rheinwerk Analytics SE", "Finance", "ap@rheinwerk.example",
    )  # fmt: skip
    assert stored["Region__c"] == "DACH"  # untouched: absent from the change


async def test_erp_origin_fills_the_read_only_mirrors(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str]
) -> None:
    changes = {
        "erp_customer_id": "4711",
        "subsidiary_id": "2",
        "currency": "EUR",
        "terms": "Net 30",
        "credit_limit": {"amount": "250000.00", "currency": "EUR"},
        "tax_jurisdiction": "DE-NW",
    }
    response = await _patch(api, {"origin": "erp", "changes": changes})
    assert response.status_code == 200, response.text
    account = response.json()
    assert (account["erp_customer_id"], account["currency"], account["tax_jurisdiction"]) == ("4711", "EUR", "DE-NW")
    assert (account["subsidiary_id"], account["terms"]) == ("2", "Net 30")
    assert account["credit_limit"] == {"amount": "250000.00", "currency": "EUR"}
    stored = _salesforce(sandbox, bearer)
    mirrors = ("ERP_Customer_Id__c", "ERP_Subsidiary_Id__c", "ERP_Currency__c", "Payment_Terms__c")
    assert [stored[k] for k in mirrors] == ["4711", "2", "EUR", "Net 30"]
    assert stored["Tax_Jurisdiction__c"] == "DE-NW"
    assert stored["Credit_Limit__c"] == 250000  # a JSON number on Salesforce's wire
    assert stored["Name"] == "Rheinwerk Analytics GmbH"


async def test_foreign_fields_are_refused_named_counted_and_nothing_is_written(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str], redis: RedisClient
) -> None:
    before = _salesforce(sandbox, bearer)
    body = {
        "origin": "crm",
        "changes": {"name": "Renamed GmbH", "terms": "Net 90", "credit_limit": {"amount": "1.00", "currency": "EUR"}},
    }
    for _ in range(2):
        response = await _patch(api, body)
        assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/field-ownership")
    assert {e["location"]: e["message"] for e in problem["errors"]} == {
        "$.changes.terms": "terms is owned by erp; an update originating in crm may not change it",
        "$.changes.credit_limit": "credit_limit is owned by erp; an update originating in crm may not change it",
    }
    assert _salesforce(sandbox, bearer) == before  # not even the CRM-owned name was written
    counts = await redis.hgetall(POLICY_VIOLATIONS_KEY)
    assert counts == {b"customer_master:erp:terms": b"2", b"customer_master:erp:credit_limit": b"2"}

    refused = await _patch(api, {"origin": "erp", "changes": {"name": "ERP Name", "region": "UKI"}})
    assert refused.status_code == 409
    assert [e["location"] for e in refused.json()["errors"]] == ["$.changes.name", "$.changes.region"]
    assert "owned by crm" in refused.json()["detail"]
    assert await redis.hget(POLICY_VIOLATIONS_KEY, "customer_master:crm:region") == b"1"


async def test_values_salesforce_refuses_are_422_per_field(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str]
) -> None:
    before = _salesforce(sandbox, bearer)
    bad_region = await _patch(api, {"origin": "crm", "changes": {"region": "EMEA"}})
    assert bad_region.status_code == 422, bad_region.text
    assert bad_region.json()["code"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert [e["location"] for e in bad_region.json()["errors"]] == ["$.changes.region"]
    bad_email = await _patch(api, {"origin": "crm", "changes": {"email": "not-an-address"}})
    assert bad_email.status_code == 422
    assert [e["location"] for e in bad_email.json()["errors"]] == ["$.changes.email"]
    wrong_currency = await _patch(
        api, {"origin": "erp", "changes": {"credit_limit": {"amount": "1000.00", "currency": "USD"}}}
    )
    assert wrong_currency.status_code == 422
    assert [e["location"] for e in wrong_currency.json()["errors"]] == ["$.changes.credit_limit.currency"]
    assert "EUR" in wrong_currency.json()["detail"]
    assert _salesforce(sandbox, bearer) == before


async def test_bad_requests_unknown_accounts_and_scopes(
    api: AsyncTestClient[Any], issuer: tuple[TestIssuer, str]
) -> None:
    money_as_number = {"origin": "erp", "changes": {"credit_limit": {"amount": 1000.5, "currency": "EUR"}}}
    assert (await _patch(api, money_as_number)).status_code == 400
    assert (await _patch(api, {"origin": "crm", "changes": {"owner": "x"}})).status_code == 400
    assert (await _patch(api, {"origin": "planning", "changes": {}})).status_code == 400
    missing = await _patch(api, {"origin": "crm", "changes": {"name": "Nobody"}}, account_id="0018d00000NOPEAAAA")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    read_only = issuer[0].mint(["crm:read"])
    forbidden = await api.patch(
        f"/v1/accounts/{RHEINWERK}",
        json={"origin": "crm", "changes": {"name": "X"}},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert forbidden.status_code == 403


async def test_an_empty_change_writes_nothing_and_returns_the_account(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str]
) -> None:
    before = _salesforce(sandbox, bearer)
    response = await _patch(api, {"origin": "erp", "changes": {}})
    assert response.status_code == 200
    assert response.json()["name"] == "Rheinwerk Analytics GmbH"
    assert _salesforce(sandbox, bearer)["SystemModstamp"] == before["SystemModstamp"]


async def test_a_change_to_the_values_already_held_writes_nothing(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str]
) -> None:
    changes = {"terms": "Net 30", "credit_limit": {"amount": "5000.00", "currency": "EUR"}, "currency": "EUR"}
    first = await _patch(api, {"origin": "erp", "changes": changes})
    assert first.status_code == 200
    stamp = _salesforce(sandbox, bearer)["SystemModstamp"]
    # The sync echoing the same values (5000 == 5000.00) leaves the record, and so the account feed, alone.
    again = await _patch(
        api, {"origin": "erp", "changes": {**changes, "credit_limit": {"amount": "5000", "currency": "EUR"}}}
    )
    assert again.status_code == 200
    assert again.json() == first.json()
    assert _salesforce(sandbox, bearer)["SystemModstamp"] == stamp


async def test_a_change_spends_two_api_calls_and_an_echo_one(
    api: AsyncTestClient[Any], sandbox: str, bearer: dict[str, str], admin: SandboxAdmin
) -> None:
    await api.get(f"/v1/accounts/{RHEINWERK}")  # the session exists: its token call is not counted
    admin.usage(used=0)
    changed = await _patch(api, {"origin": "crm", "changes": {"industry": "Finance"}})
    assert changed.status_code == 200
    # The read, then the update with its read-back in one composite call.
    assert admin.usage() == "api-usage=2/15000"
    stored = _salesforce(sandbox, bearer)["SystemModstamp"]  # the answer shows the write's own modstamp
    assert datetime.fromisoformat(changed.json()["last_modified"]) == datetime.fromisoformat(stored)
    admin.usage(used=0)
    echo = await _patch(api, {"origin": "crm", "changes": {"industry": "Finance"}})
    assert echo.json() == changed.json()
    assert admin.usage() == "api-usage=1/15000"
