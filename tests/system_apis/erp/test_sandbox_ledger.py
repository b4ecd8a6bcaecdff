"""The sandbox's ledger side over real HTTP: GL postings, tax codes, custom fields, scale, migration."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import msgspec

from system_apis.erp.sandbox import SandboxSettings, create_app
from system_apis.erp.sandbox.seed import seed_state
from system_apis.erp.sandbox.store import STATE_FILE
from tests.support import running_server
from tests.system_apis.erp.conftest import bearer

RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"


def _query(base: str, q: str, **params: Any) -> dict[str, Any]:
    response = httpx.post(
        f"{base}{SUITEQL}", json={"q": q}, params=params, headers={**bearer(base), "Prefer": "transient"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = json.loads(response.content, parse_float=Decimal)
    return body


def test_posted_gl_lines_are_seeded_per_subsidiary_period_and_account(sandbox: str) -> None:
    q = (
        "SELECT transaction, transactionline, account, accounttype, debit, credit, item FROM transactionaccountingline "
        "WHERE posting = 'T' AND subsidiary = '3' AND postingperiod = '305' ORDER BY transaction, transactionline"
    )
    first = _query(sandbox, q, limit=5)
    assert (first["totalResults"], first["hasMore"], first["count"]) == (12, True, 5)
    rows = first["items"] + _query(sandbox, q, limit=5, offset=5)["items"] + _query(sandbox, q, offset=10)["items"]
    assert len({(r["transaction"], r["transactionline"]) for r in rows}) == 12
    revenue = [r for r in rows if r["account"] == "4000"]
    assert [r["item"] for r in revenue] == ["101", "101"]
    # Income is credited and its credit memo debited; amounts are exact decimals.
    assert [(r["debit"], r["credit"]) for r in revenue] == [("0.00", "70400.00"), ("2112.00", "0.00")]
    assert {r["accounttype"] for r in rows} == {"Income", "COGS", "Expense"}
    # The open month 2026-11 has postings to date, 2026-12 none yet.
    month = "SELECT transaction FROM transactionaccountingline WHERE postingperiod = '{}' ORDER BY transaction"
    assert (_query(sandbox, month.format("311"))["count"], _query(sandbox, month.format("312"))["count"]) == (12, 0)


def test_reference_tables_tax_codes_and_date_ranges_in_suiteql(sandbox: str) -> None:
    tax = _query(sandbox, "SELECT itemid, rate, subsidiary FROM salestaxitem WHERE subsidiary = '2' ORDER BY id")
    assert [(t["itemid"], t["rate"]) for t in tax["items"]] == [
        ("DE-VAT-19", "19.00"),
        ("DE-VAT-7", "7.00"),
        ("DE-RC-EU", "0.00"),
    ]
    record = httpx.get(f"{sandbox}{RECORDS}/salesTaxItem/31", headers=bearer(sandbox)).json()
    assert (record["itemId"], record["rate"], record["subsidiary"]["id"]) == ("GB-VAT-20", 20.0, "3")
    orders = _query(
        sandbox,
        "SELECT id, trandate FROM transaction WHERE type = 'SalesOrd' AND trandate >= TO_DATE('2026-10-20', "
        "'YYYY-MM-DD') AND trandate <= TO_DATE('2026-10-31', 'YYYY-MM-DD') ORDER BY id",
    )["items"]
    assert orders
    assert all("2026-10-20" <= o["trandate"] <= "2026-10-31" for o in orders)


def test_customer_patch_writes_terms_and_custom_fields_and_refuses_bad_ones(sandbox: str) -> None:
    headers = bearer(sandbox)
    url = f"{sandbox}{RECORDS}/customer/1003"
    patched = httpx.patch(
        url, json={"terms": {"id": "4"}, "custentity_fig_region": "UKI", "creditLimit": 1000.5}, headers=headers
    )
    assert patched.status_code == 204
    body = httpx.get(url, headers=headers).json()
    assert (body["terms"]["refName"], body["custentity_fig_region"], body["creditLimit"]) == ("Net 60", "UKI", 1000.5)
    bad_terms = httpx.patch(url, json={"terms": {"id": "99"}}, headers=headers)
    assert (bad_terms.status_code, bad_terms.json()["o:errorDetails"][0]["o:errorPath"]) == (400, "terms")
    unknown_field = httpx.patch(url, json={"custentity_colour": "red"}, headers=headers)
    assert unknown_field.json()["o:errorDetails"][0]["o:errorPath"] == "custentity_colour"


def test_admin_generates_pending_orders_in_bulk(sandbox: str) -> None:
    ids = httpx.post(f"{sandbox}/__admin/sales-orders/generate", json={"count": 3, "subsidiary_id": "2"}).json()["ids"]
    assert len(ids) == 3
    order = httpx.get(f"{sandbox}{RECORDS}/salesOrder/eid:GEN-{ids[0]}", headers=bearer(sandbox)).json()
    assert (order["orderStatus"]["id"], order["subsidiary"]["id"], order["currency"]["id"]) == ("A", "2", "4")
    refused = httpx.post(f"{sandbox}/__admin/sales-orders/generate", json={"count": 0})
    assert refused.status_code == 400


def test_seed_scales_past_10000_orders_quickly() -> None:
    started = time.perf_counter()
    state = seed_state(client_id="c", key_id="k", scale=834)
    elapsed = time.perf_counter() - started
    assert len(state.sales_orders) == 10_008
    assert len(state.customers) == 25_020
    assert len(state.postings) == 3 * 11 * 6 * 2  # actuals do not scale with the order volume
    assert elapsed < 5, f"seeding took {elapsed:.1f}s"
    with running_server(create_app(SandboxSettings(seed_scale=834))) as base:
        page = _query(base, "SELECT id FROM transaction WHERE type = 'SalesOrd' ORDER BY id", limit=1000, offset=9000)
        assert (page["totalResults"], page["count"], page["hasMore"]) == (10_008, 1000, True)


def test_a_state_file_from_before_the_ledger_gets_its_reference_data(tmp_path: Path) -> None:
    old = seed_state(client_id="fig-erp-integration-dev", key_id="fig-dev-cert-1")
    old.tax_codes, old.postings = {}, []
    (tmp_path / STATE_FILE).write_bytes(msgspec.json.encode(old))
    with running_server(create_app(SandboxSettings(data_dir=str(tmp_path)))) as base:
        assert _query(base, "SELECT id FROM salestaxitem ORDER BY id")["totalResults"] == 12
        assert _query(base, "SELECT transaction FROM transactionaccountingline")["totalResults"] == 396


def test_tax_codes_from_before_they_named_their_jurisdictions_get_the_seeded_scope(tmp_path: Path) -> None:
    old = seed_state(client_id="fig-erp-integration-dev", key_id="fig-dev-cert-1")
    old.tax_codes = {
        i: msgspec.structs.replace(t, jurisdictions=[], revenue_category=None)
        for i, t in old.tax_codes.items()
        if i in {"11", "12", "13", "21", "22", "23", "31", "32"}
    }
    (tmp_path / STATE_FILE).write_bytes(msgspec.json.encode(old))
    with running_server(create_app(SandboxSettings(data_dir=str(tmp_path)))) as base:
        rows = _query(base, "SELECT id, custitem_fig_tax_jurisdictions FROM salestaxitem WHERE id = '16'")["items"]
        assert rows == [{"links": [], "id": "16", "custitem_fig_tax_jurisdictions": "US-NY"}]
        kept = _query(base, "SELECT custitem_fig_tax_jurisdictions FROM salestaxitem WHERE id = '12'")["items"]
        assert kept == [{"links": [], "custitem_fig_tax_jurisdictions": "US-NY"}]


def test_admin_posts_gl_lines_into_open_periods_only(sandbox: str) -> None:
    posting = {"subsidiary_id": "2", "period": "2026-12", "account": "4100", "amount": "500.00", "item_id": "102"}
    posted = httpx.post(f"{sandbox}/__admin/postings", json=posting)
    assert posted.status_code == 201, posted.text
    rows = _query(
        sandbox,
        "SELECT debit, credit, item FROM transactionaccountingline WHERE postingperiod = '212' ORDER BY transaction",
    )["items"]
    assert rows == [{"links": [], "debit": "0.00", "credit": "500.00", "item": "102"}]
    closed = httpx.post(f"{sandbox}/__admin/postings", json={**posting, "period": "2026-10"})
    assert (closed.status_code, closed.json()["o:errorDetails"][0]["o:errorPath"]) == (400, "postingPeriod")
    assert httpx.post(f"{sandbox}/__admin/postings", json={**posting, "item_id": "999"}).status_code == 400
