"""Tax codes on sales order lines: the sandbox refuses an unknown one or one of another subsidiary
the way NetSuite does, keeps a valid one on the line, and the ERP API publishes where codes apply."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.system_apis.erp.conftest import bearer

ORDERS = "/services/rest/record/v1/salesOrder"
#: Customer 1002 is Rheinwerk Analytics GmbH, subsidiary 2 (DE01).
RHEINWERK = "1002"


def _order(tax_code: str, external_id: str) -> dict[str, Any]:
    return {
        "entity": {"id": RHEINWERK},
        "tranDate": "2026-11-30",
        "externalId": external_id,
        "item": {
            "items": [
                {"item": {"id": "101"}, "quantity": 10, "rate": 1200, "taxCode": {"id": "21"}},
                {"item": {"id": "102"}, "quantity": 1, "rate": 2400, "taxCode": {"id": tax_code}},
            ]
        },
    }


def _orders(sandbox: str, external_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{sandbox}/__admin/sales-orders", params={"externalId": external_id}
    ).json()["items"]
    return found


def test_an_unknown_tax_code_is_refused_and_nothing_is_created(sandbox: str) -> None:
    refused = httpx.post(f"{sandbox}{ORDERS}", json=_order("999", "SF-TAX-UNKNOWN"), headers=bearer(sandbox))
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/vnd.oracle.resource+json")
    [detail] = refused.json()["o:errorDetails"]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("INVALID_CONTENT", "item.items[1].taxCode")
    assert "Invalid Field Value 999" in detail["detail"]
    assert _orders(sandbox, "SF-TAX-UNKNOWN") == []


def test_a_tax_code_of_another_subsidiary_is_refused(sandbox: str) -> None:
    # 12 is New York sales tax, subsidiary 1; the order is Rheinwerk's, subsidiary 2.
    refused = httpx.post(f"{sandbox}{ORDERS}", json=_order("12", "SF-TAX-OTHER-SUB"), headers=bearer(sandbox))
    assert refused.status_code == 400
    [detail] = refused.json()["o:errorDetails"]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("INVALID_CONTENT", "item.items[1].taxCode")
    assert detail["detail"] == "Invalid taxCode reference key 12 for subsidiary 2."
    assert _orders(sandbox, "SF-TAX-OTHER-SUB") == []


def test_a_valid_tax_code_is_kept_on_the_line_and_read_back(sandbox: str) -> None:
    headers = bearer(sandbox)
    created = httpx.post(f"{sandbox}{ORDERS}", json=_order("22", "SF-TAX-OK"), headers=headers)
    assert created.status_code == 204, created.text
    order = httpx.get(created.headers["location"], params={"expandSubResources": "true"}, headers=headers).json()
    assert [(line["taxCode"]["id"], line["taxCode"]["refName"]) for line in order["item"]["items"]] == [
        ("21", "DE-VAT-19"),
        ("22", "DE-VAT-7"),
    ]


async def test_the_erp_api_lists_where_each_tax_code_applies(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/v1/reference/tax-codes", params={"legal_entity": "US01"})
    assert response.status_code == 200, response.text
    scope = {t["code"]: (t["jurisdictions"], t["revenue_category"]) for t in response.json()["items"]}
    assert scope["US-SALES-NY"] == (["US-NY"], None)
    assert scope["US-SERV-EXEMPT-NY"] == (["US-NY"], "services")
    assert scope["US-EXEMPT"] == (["US-IL"], None)


async def test_the_erp_api_names_the_refused_line_tax_code_in_its_problem(api: AsyncTestClient[Any]) -> None:
    money = {"amount": "2400.00", "currency": "EUR"}
    command = {
        "customer_id": RHEINWERK,
        "subsidiary_id": "2",
        "currency": "EUR",
        "tran_date": "2026-11-30",
        "lines": [{"item_id": "102", "quantity": "1", "unit_price": money, "amount": money, "tax_code_id": "12"}],
    }
    refused = await api.put("/v1/sales-orders/SF-TAX-API", json=command, headers={"Idempotency-Key": "tax-api-1"})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert [e["location"] for e in refused.json()["errors"]] == ["lines[0].tax_code_id"]
    command["lines"][0]["tax_code_id"] = "22"  # type: ignore[index]  # the one line of the command
    posted = await api.put("/v1/sales-orders/SF-TAX-API", json=command, headers={"Idempotency-Key": "tax-api-2"})
    assert posted.status_code in (200, 201), posted.text
    assert [line["tax_code_id"] for line in posted.json()["lines"]] == ["22"]
