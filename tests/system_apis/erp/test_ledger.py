"""Accounting periods, posted actuals, sales-order filters and reference data through the ERP API."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.system_apis.erp.conftest import admin

#: DE01 2026-10 from the seed: per account gross * 1.20 less a 2 % reversal, in EUR.
DE01_2026_10 = [
    {"account": "4000", "amount": {"amount": "112896.00", "currency": "EUR"}, "product_code": "FIG-PLAT"},
    {"account": "4100", "amount": {"amount": "24696.00", "currency": "EUR"}, "product_code": "FIG-SUPP"},
    {"account": "4200", "amount": {"amount": "17052.00", "currency": "EUR"}, "product_code": "FIG-SERV"},
    {"account": "5000", "amount": {"amount": "32928.00", "currency": "EUR"}, "product_code": None},
    {"account": "6000", "amount": {"amount": "71736.00", "currency": "EUR"}, "product_code": None},
    {"account": "6100", "amount": {"amount": "11524.80", "currency": "EUR"}, "product_code": None},
]


async def test_accounting_periods_by_entity_and_status_follow_closes(api: AsyncTestClient[Any], sandbox: str) -> None:
    everything = (await api.get("/v1/accounting-periods")).json()["items"]
    assert len(everything) == 36
    de_open = await api.get("/v1/accounting-periods", params={"legal_entity": "DE01", "status": "open"})
    assert de_open.status_code == 200, de_open.text
    assert de_open.json()["items"] == [
        {"legal_entity": "DE01", "subsidiary_id": "2", "period": "2026-11", "status": "open", "closed_at": None},
        {"legal_entity": "DE01", "subsidiary_id": "2", "period": "2026-12", "status": "open", "closed_at": None},
    ]
    closed = (await api.get("/v1/accounting-periods", params={"legal_entity": "GB01", "status": "closed"})).json()
    assert [p["period"] for p in closed["items"]] == [f"2026-{m:02d}" for m in range(1, 11)]
    assert closed["items"][9]["closed_at"] == "2026-11-03T12:00:00Z"
    await admin(sandbox, "POST", "/periods/2/2026-11/close")
    now_closed = (await api.get("/v1/accounting-periods", params={"legal_entity": "DE01", "status": "closed"})).json()
    assert now_closed["items"][-1]["period"] == "2026-11"
    assert now_closed["items"][-1]["closed_at"] is not None
    assert (await api.get("/v1/accounting-periods", params={"legal_entity": "FR01"})).status_code == 404
    assert (await api.get("/v1/accounting-periods", params={"legal_entity": "de01"})).status_code == 400


@pytest.mark.parametrize("api", [1000, 5], indirect=True, ids=["one-page", "pages-of-5"])
async def test_actuals_sum_posted_lines_per_account_and_product(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/v1/actuals", params={"legal_entity": "DE01", "period": "2026-10"})
    assert response.status_code == 200, response.text
    assert response.json() == {"legal_entity": "DE01", "period": "2026-10", "currency": "EUR", "lines": DE01_2026_10}


async def test_actuals_of_open_unknown_and_malformed_periods(api: AsyncTestClient[Any], sandbox: str) -> None:
    us = (await api.get("/v1/actuals", params={"legal_entity": "US01", "period": "2026-01"})).json()
    assert us["currency"] == "USD"
    assert us["lines"][0] == {
        "account": "4000",
        "amount": {"amount": "179928.00", "currency": "USD"},
        "product_code": "FIG-PLAT",
    }
    to_date = (await api.get("/v1/actuals", params={"legal_entity": "GB01", "period": "2026-11"})).json()
    # The open month: 80 % of 64000 * 1.22 = 62464.00 posted so far, less a 3 % credit memo.
    assert to_date["lines"][0]["amount"] == {"amount": "60590.08", "currency": "GBP"}
    future = (await api.get("/v1/actuals", params={"legal_entity": "GB01", "period": "2026-12"})).json()
    assert (future["currency"], future["lines"]) == ("GBP", [])
    posting = {"subsidiary_id": "3", "period": "2026-12", "account": "4200", "amount": "99.50", "item_id": "103"}
    await admin(sandbox, "POST", "/postings", json=posting)
    posted = (await api.get("/v1/actuals", params={"legal_entity": "GB01", "period": "2026-12"})).json()["lines"]
    assert posted == [{"account": "4200", "amount": {"amount": "99.50", "currency": "GBP"}, "product_code": "FIG-SERV"}]
    unknown_period = await api.get("/v1/actuals", params={"legal_entity": "DE01", "period": "2025-10"})
    assert unknown_period.status_code == 404
    assert unknown_period.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("/v1/actuals", params={"legal_entity": "FR01", "period": "2026-10"})).status_code == 404
    assert (await api.get("/v1/actuals", params={"legal_entity": "DE01", "period": "2026-13"})).status_code == 400
    assert (await api.get("/v1/actuals", params={"legal_entity": "DE01"})).status_code == 400


async def test_sales_orders_by_entity_period_and_status(api: AsyncTestClient[Any]) -> None:
    def params(**extra: Any) -> dict[str, Any]:
        return {"limit": 100, **extra}

    everything = (await api.get("/v1/sales-orders", params=params())).json()["items"]
    de = (await api.get("/v1/sales-orders", params=params(legal_entity="DE01"))).json()["items"]
    assert de
    assert {o["subsidiary_id"] for o in de} == {"2"}
    assert len(de) == sum(o["subsidiary_id"] == "2" for o in everything)
    october = (await api.get("/v1/sales-orders", params=params(period="2026-10"))).json()["items"]
    assert october
    assert all(o["tran_date"].startswith("2026-10") for o in october)
    assert len(october) == sum(o["tran_date"].startswith("2026-10") for o in everything)
    booked_de_oct = await api.get(
        "/v1/sales-orders", params=params(legal_entity="DE01", period="2026-10", status="pending_fulfillment")
    )
    expected = [
        o["id"]
        for o in everything
        if o["subsidiary_id"] == "2" and o["tran_date"].startswith("2026-10") and o["status"] == "pending_fulfillment"
    ]
    assert [o["id"] for o in booked_de_oct.json()["items"]] == expected
    assert (await api.get("/v1/sales-orders", params=params(legal_entity="XX99"))).status_code == 404
    assert (await api.get("/v1/sales-orders", params=params(period="2026-1"))).status_code == 400


async def test_reference_data(api: AsyncTestClient[Any]) -> None:
    subsidiaries = (await api.get("/v1/reference/subsidiaries")).json()["items"]
    assert [(s["code"], s["erp_subsidiary_id"], s["base_currency"]) for s in subsidiaries] == [
        ("US01", "1", "USD"),
        ("DE01", "2", "EUR"),
        ("GB01", "3", "GBP"),
    ]
    items = (await api.get("/v1/reference/items")).json()["items"]
    assert [(i["id"], i["product_code"], i["revenue_category"]) for i in items] == [
        ("101", "FIG-PLAT", "subscription"),
        ("102", "FIG-SUPP", "support"),
        ("103", "FIG-SERV", "services"),
    ]
    currencies = (await api.get("/v1/reference/currencies")).json()["items"]
    assert {c["code"]: c["id"] for c in currencies} == {"USD": "1", "GBP": "2", "EUR": "4"}
    tax = (await api.get("/v1/reference/tax-codes")).json()["items"]
    assert {t["legal_entity"] for t in tax} == {"US01", "DE01", "GB01"}
    de_tax = (await api.get("/v1/reference/tax-codes", params={"legal_entity": "DE01"})).json()["items"]
    assert ("DE-VAT-19", "19.00") in {(t["code"], t["rate"]) for t in de_tax}
    assert {t["legal_entity"] for t in de_tax} == {"DE01"}
    gb_tax = (await api.get("/v1/reference/tax-codes", params={"legal_entity": "GB01"})).json()["items"]
    assert ("GB-VAT-20", "20.00") in {(t["code"], t["rate"]) for t in gb_tax}
