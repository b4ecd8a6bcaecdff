"""PATCH /v1/customers/{key}: customer-master changes under field ownership, written to NetSuite."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from servicekit import RedisClient
from servicekit.ownership import POLICY_VIOLATIONS_KEY
from tests.system_apis.erp.conftest import bearer

SEEDED = "1001"  # seeded US customer with orders, USD, Net 30
SEEDED_EID = "SF-0018d00000ERP002"  # seeded DE customer (1002), EUR


def _record(sandbox: str, customer_id: str) -> dict[str, Any]:
    """The customer as NetSuite holds it (read straight from the sandbox, not through our API)."""
    response = httpx.get(f"{sandbox}/services/rest/record/v1/customer/{customer_id}", headers=bearer(sandbox))
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


async def test_crm_origin_writes_commercial_fields_incl_custom_entity_fields(
    api: AsyncTestClient[Any], sandbox: str
) -> None:
    changes = {"name": "Acme Analytics Inc.", "email": "billing@acme.example", "region": "NA", "industry": "Software"}
    response = await api.patch(f"/v1/customers/{SEEDED}", json={"origin": "crm", "changes": changes})
    assert response.status_code == 200, response.text
    customer = response.json()
    assert (customer["name"], customer["email"], customer["terms"]) == (
        "Acme Analytics Inc.",
        "billing@acme.example",
        "Net 30",
    )
    assert (customer["region"], customer["industry"]) == ("NA", "Software")
    record = _record(sandbox, SEEDED)
    assert record["companyName"] == "Acme Analytics Inc."
    assert (record["custentity_fig_region"], record["custentity_fig_industry"]) == ("NA", "Software")


async def test_erp_origin_writes_terms_credit_limit_and_tax_jurisdiction_by_external_id(
    api: AsyncTestClient[Any], sandbox: str
) -> None:
    changes = {
        "terms": "Net 45",
        "credit_limit": {"amount": "75000.00", "currency": "EUR"},
        "tax_jurisdiction": "DE-BY",
    }
    response = await api.patch(f"/v1/customers/{SEEDED_EID}", json={"origin": "erp", "changes": changes})
    assert response.status_code == 200, response.text
    customer = response.json()
    assert customer["external_id"] == SEEDED_EID
    assert customer["terms"] == "Net 45"
    assert customer["credit_limit"] == {"amount": "75000.00", "currency": "EUR"}
    record = _record(sandbox, customer["id"])
    assert record["terms"]["id"] == "3"
    assert record["custentity_fig_tax_jurisdiction"] == "DE-BY"


async def test_fields_the_origin_does_not_own_are_409_counted_and_nothing_is_written(
    api: AsyncTestClient[Any], sandbox: str, redis: RedisClient
) -> None:
    before = _record(sandbox, SEEDED)
    update = {
        "origin": "crm",
        "changes": {"name": "Renamed", "terms": "Net 60", "credit_limit": {"amount": "1.00", "currency": "USD"}},
    }
    refused = await api.patch(f"/v1/customers/{SEEDED}", json=update)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/field-ownership")
    assert {(e["location"], "owned by erp" in e["message"]) for e in problem["errors"]} == {
        ("$.changes.terms", True),
        ("$.changes.credit_limit", True),
    }
    assert _record(sandbox, SEEDED) == before  # not even the owned `name` was written
    again = await api.patch(f"/v1/customers/{SEEDED}", json={"origin": "erp", "changes": {"email": "x@y.example"}})
    assert again.status_code == 409
    assert again.json()["errors"] == [
        {
            "location": "$.changes.email",
            "message": "email is owned by crm; an update originating in erp may not change it",
        }
    ]
    counts: Any = await redis.hgetall(POLICY_VIOLATIONS_KEY)
    assert counts == {
        b"customer_master:erp:terms": b"1",
        b"customer_master:erp:credit_limit": b"1",
        b"customer_master:crm:email": b"1",
    }


async def test_changes_netsuite_cannot_hold_are_422_at_the_field(api: AsyncTestClient[Any], sandbox: str) -> None:
    def erp(changes: dict[str, Any]) -> dict[str, Any]:
        return {"origin": "erp", "changes": changes}

    wrong_currency = await api.patch(
        f"/v1/customers/{SEEDED}", json=erp({"credit_limit": {"amount": "10.00", "currency": "EUR"}})
    )
    assert wrong_currency.status_code == 422
    assert wrong_currency.json()["errors"][0]["location"] == "$.changes.credit_limit"
    unknown_terms = await api.patch(f"/v1/customers/{SEEDED}", json=erp({"terms": "Net 90"}))
    assert unknown_terms.status_code == 422
    assert unknown_terms.json()["errors"][0]["location"] == "$.changes.terms"
    # NetSuite itself refuses moving a customer with transactions to another subsidiary.
    moved = await api.patch(f"/v1/customers/{SEEDED}", json=erp({"subsidiary_id": "2"}))
    assert moved.status_code == 422
    assert moved.json()["code"] == "INVALID_CONTENT"
    assert moved.json()["errors"][0]["location"] == "subsidiary_id"
    assert _record(sandbox, SEEDED)["subsidiary"]["id"] == "1"


async def test_unknown_customer_is_404_and_strict_body_is_400(api: AsyncTestClient[Any]) -> None:
    missing = await api.patch("/v1/customers/SF-NOBODY", json={"origin": "crm", "changes": {"name": "X"}})
    assert missing.status_code == 404
    unknown_field = await api.patch(f"/v1/customers/{SEEDED}", json={"origin": "crm", "changes": {"colour": "red"}})
    assert unknown_field.status_code == 400
    bad_origin = await api.patch(f"/v1/customers/{SEEDED}", json={"origin": "sap", "changes": {}})
    assert bad_origin.status_code == 400
    number_money = await api.patch(
        f"/v1/customers/{SEEDED}", json={"origin": "erp", "changes": {"credit_limit": {"amount": 5, "currency": "USD"}}}
    )
    assert number_money.status_code == 400
