"""The sandbox's records, SuiteQL, governance and persistence, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec

from system_apis.erp.sandbox import SandboxSettings, create_app
from system_apis.erp.sandbox.seed import seed_state
from tests.support import running_server
from tests.system_apis.erp.conftest import arm, bearer

RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert body["status"] == response.status_code
    detail: dict[str, str] = body["o:errorDetails"][0]
    return detail


def test_customer_create_answers_204_with_location_and_reads_back_by_id_and_external_id(sandbox: str) -> None:
    headers = bearer(sandbox)
    created = httpx.post(
        f"{sandbox}{RECORDS}/customer",
        json={"companyName": "Rheinwerk Analytics GmbH", "subsidiary": {"id": "2"}, "externalId": "SF-ACC1"},
        headers=headers,
    )
    assert created.status_code == 204
    assert created.content == b""
    new_id = created.headers["location"].rsplit("/", 1)[-1]
    by_id = httpx.get(created.headers["location"], headers=headers).json()
    by_eid = httpx.get(f"{sandbox}{RECORDS}/customer/eid:SF-ACC1", headers=headers).json()
    assert by_id["id"] == by_eid["id"] == new_id
    assert by_id["currency"]["id"] == "4"  # the subsidiary's currency by default
    assert by_id["subsidiary"]["refName"] == "FIG GmbH (DE01)"


def test_put_by_external_id_upserts_one_record(sandbox: str) -> None:
    headers = bearer(sandbox)
    url = f"{sandbox}{RECORDS}/customer/eid:SF-UPSERT"
    first = httpx.put(url, json={"companyName": "Thames Data Ltd", "subsidiary": {"id": "3"}}, headers=headers)
    second = httpx.put(url, json={"companyName": "Thames Data Limited"}, headers=headers)
    assert first.status_code == second.status_code == 204
    assert first.headers["location"] == second.headers["location"]
    record = httpx.get(url, headers=headers).json()
    assert record["companyName"] == "Thames Data Limited"
    patched = httpx.patch(first.headers["location"], json={"email": "ap@thames.example"}, headers=headers)
    assert patched.status_code == 204
    assert httpx.get(url, headers=headers).json()["email"] == "ap@thames.example"


def test_sales_order_refusals_name_the_field(sandbox: str) -> None:
    headers = bearer(sandbox)
    url = f"{sandbox}{RECORDS}/salesOrder"
    line = {"item": {"id": "101"}, "quantity": 1}
    unknown_customer = httpx.post(url, json={"entity": {"id": "999999"}, "item": {"items": [line]}}, headers=headers)
    assert unknown_customer.status_code == 400
    assert _error(unknown_customer)["o:errorCode"] == "INVALID_CONTENT"
    assert _error(unknown_customer)["o:errorPath"] == "entity"
    unknown_item = httpx.post(
        url,
        json={"entity": {"id": "1001"}, "item": {"items": [{"item": {"id": "999"}, "quantity": 1}]}},
        headers=headers,
    )
    assert _error(unknown_item)["o:errorPath"] == "item.items[0].item"
    wrong_sub = httpx.post(
        url, json={"entity": {"id": "1001"}, "subsidiary": {"id": "2"}, "item": {"items": [line]}}, headers=headers
    )
    assert _error(wrong_sub)["o:errorPath"] == "subsidiary"
    bad_currency = httpx.post(
        url, json={"entity": {"id": "1001"}, "currency": {"id": "3"}, "item": {"items": [line]}}, headers=headers
    )
    assert _error(bad_currency)["o:errorPath"] == "currency"


def test_sales_order_lifecycle_pending_approval_then_approved_by_patch(sandbox: str) -> None:
    headers = bearer(sandbox)
    created = httpx.put(
        f"{sandbox}{RECORDS}/salesOrder/eid:SF-OPP1",
        content=json.dumps(
            {
                "entity": {"id": "1002"},
                "tranDate": "2026-11-30",
                "item": {
                    "items": [
                        {"item": {"id": "101"}, "quantity": 10, "rate": 1200.00},
                        {"item": {"id": "102"}, "quantity": 1, "rate": 2400.00},
                    ]
                },
            }
        ),
        headers={**headers, "content-type": "application/json"},
    )
    assert created.status_code == 204
    location = created.headers["location"]
    order = json.loads(httpx.get(location, headers=headers).content, parse_float=Decimal)
    assert order["orderStatus"] == {"id": "A", "refName": "Pending Approval"}
    assert order["tranId"].startswith("SO")
    assert order["total"] == Decimal("14400.0")
    assert order["entity"]["id"] == "1002"
    assert order["currency"]["refName"] == "EUR"
    assert set(order["item"]) == {"links"}  # lines only as a link unless expanded
    expanded = httpx.get(location, params={"expandSubResources": "true"}, headers=headers).json()
    assert [line["item"]["id"] for line in expanded["item"]["items"]] == ["101", "102"]
    assert httpx.patch(location, json={"orderStatus": "B"}, headers=headers).status_code == 204
    approved = httpx.get(location, headers=headers).json()
    assert approved["orderStatus"]["id"] == "B"
    assert approved["lastModifiedDate"] > order["lastModifiedDate"]


def test_collections_page_with_limit_and_offset(sandbox: str) -> None:
    headers = bearer(sandbox)
    seen: list[str] = []
    offset = 0
    while True:
        page = httpx.get(f"{sandbox}{RECORDS}/customer", params={"limit": 7, "offset": offset}, headers=headers).json()
        assert page["totalResults"] == 30
        assert page["count"] == len(page["items"])
        seen += [item["id"] for item in page["items"]]
        if not page["hasMore"]:
            break
        offset += 7
    assert len(seen) == len(set(seen)) == 30


def test_suiteql_needs_prefer_transient_and_pages(sandbox: str) -> None:
    headers = bearer(sandbox)
    query = {
        "q": "SELECT id, status, lastmodifieddate FROM transaction WHERE type = 'SalesOrd' "
        "ORDER BY lastmodifieddate, id"
    }
    refused = httpx.post(f"{sandbox}{SUITEQL}", json=query, headers=headers)
    assert refused.status_code == 400
    headers["Prefer"] = "transient"
    rows: list[dict[str, str]] = []
    offset = 0
    while True:
        page = httpx.post(
            f"{sandbox}{SUITEQL}", params={"limit": 5, "offset": offset}, json=query, headers=headers
        ).json()
        rows += page["items"]
        if not page["hasMore"]:
            break
        offset += 5
    assert len(rows) == page["totalResults"] == 12
    assert [(r["lastmodifieddate"], int(r["id"])) for r in rows] == sorted(
        (r["lastmodifieddate"], int(r["id"])) for r in rows
    )
    by_eid = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id, companyname FROM customer WHERE externalid = 'SF-0018d00000ERP002'"},
        headers=headers,
    ).json()
    assert [r["id"] for r in by_eid["items"]] == ["1002"]
    booked = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id, status FROM transaction WHERE type = 'SalesOrd' AND status IN ('B', 'F') ORDER BY id"},
        headers=headers,
    ).json()
    assert booked["items"]
    assert {r["status"] for r in booked["items"]} == {"B", "F"}
    unsupported = httpx.post(f"{sandbox}{SUITEQL}", json={"q": "DELETE FROM customer"}, headers=headers)
    assert unsupported.status_code == 400
    assert _error(unsupported)["o:errorCode"] == "INVALID_PARAMETER"
    unknown_column = httpx.post(f"{sandbox}{SUITEQL}", json={"q": "SELECT salary FROM customer"}, headers=headers)
    assert unknown_column.status_code == 400


async def test_requests_beyond_the_concurrency_limit_get_429() -> None:
    with running_server(create_app(SandboxSettings(max_in_flight=2))) as base:
        headers = bearer(base)
        arm(base, "GET */customer/*", "latency", latency_ms=600, count=10)
        async with httpx.AsyncClient(base_url=base, headers=headers) as client:
            responses = await asyncio.gather(*(client.get(f"{RECORDS}/customer/1001") for _ in range(6)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 429, 429, 429, 429]
        throttled = next(r for r in responses if r.status_code == 429)
        assert "retry-after" not in throttled.headers
        assert throttled.json()["status"] == 429


def test_state_persists_across_restarts_in_data_dir(tmp_path: Path) -> None:
    settings = SandboxSettings(data_dir=str(tmp_path))
    with running_server(create_app(settings)) as base:
        headers = bearer(base)
        httpx.put(
            f"{base}{RECORDS}/customer/eid:SF-PERSIST",
            json={"companyName": "Kept", "subsidiary": {"id": "1"}},
            headers=headers,
        ).raise_for_status()
        httpx.post(f"{base}/__admin/periods/1/2026-11/close").raise_for_status()
        key_path = httpx.get(f"{base}/__admin/info").json()["dev_key_path"]
    assert Path(key_path).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    with running_server(create_app(settings)) as base:
        headers = bearer(base)
        kept = httpx.get(f"{base}{RECORDS}/customer/eid:SF-PERSIST", headers=headers)
        assert kept.json()["companyName"] == "Kept"
        period = httpx.get(f"{base}{RECORDS}/accountingPeriod/111", headers=headers).json()
        assert period["periodName"] == "2026-11"
        assert period["closed"] is True


def test_admin_approval_and_reference_records(sandbox: str) -> None:
    headers = bearer(sandbox)
    pending = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id FROM transaction WHERE type = 'SalesOrd' AND status = 'A' ORDER BY id"},
        headers={**headers, "Prefer": "transient"},
    ).json()["items"][0]["id"]
    approved = httpx.post(f"{sandbox}/__admin/sales-orders/{pending}/approve")
    assert approved.json()["orderStatus"]["id"] == "B"
    assert httpx.post(f"{sandbox}/__admin/sales-orders/{pending}/approve").status_code == 400
    item = httpx.get(f"{sandbox}{RECORDS}/serviceSaleItem/102", headers=headers).json()
    assert (item["itemId"], item["custitem_fig_revenue_category"]) == ("FIG-SUPP", "support")
    currency = httpx.get(f"{sandbox}{RECORDS}/currency/2", headers=headers).json()
    assert currency["symbol"] == "GBP"
    read_only = httpx.post(f"{sandbox}{RECORDS}/currency", json={"symbol": "CHF"}, headers=headers)
    assert read_only.status_code == 405
    periods = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id, closed FROM accountingperiod WHERE subsidiary = '2' ORDER BY id"},
        headers={**headers, "Prefer": "transient"},
    ).json()["items"]
    assert [p["closed"] for p in periods] == ["T"] * 10 + ["F"] * 2
    before = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id FROM transaction WHERE type = 'SalesOrd' ORDER BY lastmodifieddate, id"},
        headers={**headers, "Prefer": "transient"},
    ).json()["totalResults"]
    assert before == 12
    since = datetime.now(UTC) - timedelta(seconds=1)
    httpx.post(f"{sandbox}/__admin/periods/2/2026-11/close").raise_for_status()
    changed = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={
            "q": "SELECT id, subsidiary, periodname, closed FROM accountingperiod WHERE lastmodifieddate > "
            f"TO_TIMESTAMP('{since.isoformat()}', 'YYYY-MM-DD\"T\"HH24:MI:SS') ORDER BY lastmodifieddate, id"
        },
        headers={**headers, "Prefer": "transient"},
    ).json()["items"]
    assert changed == [{"links": [], "id": "211", "subsidiary": "2", "periodname": "2026-11", "closed": "T"}]


def test_seed_is_deterministic_and_scales() -> None:
    one = seed_state(client_id="c", key_id="k")
    assert msgspec.json.encode(one) == msgspec.json.encode(seed_state(client_id="c", key_id="k"))
    assert (len(one.customers), len(one.sales_orders)) == (30, 12)
    assert {s.legal_entity: s.currency_id for s in one.subsidiaries.values()} == {"US01": "1", "DE01": "4", "GB01": "2"}
    assert {i.item_id: i.id for i in one.items.values()} == {"FIG-PLAT": "101", "FIG-SUPP": "102", "FIG-SERV": "103"}
    big = seed_state(client_id="c", key_id="k", scale=10)
    assert (len(big.customers), len(big.sales_orders)) == (300, 120)


def test_admin_approves_the_pending_orders_of_a_prefix_in_bulk(sandbox: str) -> None:
    made = httpx.post(f"{sandbox}/__admin/sales-orders/generate", json={"count": 3}).json()["ids"]
    approve = f"{sandbox}/__admin/sales-orders/approve-pending"
    first = httpx.post(approve, json={"external_id_prefix": "GEN-", "limit": 2})
    assert first.status_code == 200
    assert len(first.json()["approved"]) == 2
    rest = httpx.post(approve, json={"external_id_prefix": "GEN-"}).json()
    # Every generated order approved, none twice (older pending GEN- orders of other tests may come along).
    both = first.json()["approved"] + rest["approved"]
    assert len(both) == len(set(both))
    assert set(made) <= set(both)
    headers = bearer(sandbox)
    statuses = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id, status FROM transaction WHERE id IN (" + ", ".join(f"'{i}'" for i in made) + ")"},
        headers={**headers, "Prefer": "transient"},
    ).json()["items"]
    assert {s["status"] for s in statuses} == {"B"}
    bad = httpx.post(approve, json={"limit": 0})
    assert bad.status_code == 400
