"""SOQL over the sandbox: the subset we emit, paging through nextRecordsUrl, and vendor errors."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.system_apis.crm.support import BATCH

V = "/services/data/v62.0"


def _query(base: str, headers: dict[str, str], soql: str, **extra: str) -> httpx.Response:
    return httpx.get(f"{base}{V}/query", params={"q": soql}, headers={**headers, **extra})


def _all_pages(base: str, headers: dict[str, str], soql: str) -> tuple[list[dict[str, Any]], int]:
    body = _query(base, headers, soql).json()
    records, pages = list(body["records"]), 1
    while not body["done"]:
        assert body["nextRecordsUrl"].startswith(f"{V}/query/")
        body = httpx.get(base + body["nextRecordsUrl"], headers=headers).json()
        records += body["records"]
        pages += 1
    assert "nextRecordsUrl" not in body
    return records, pages


def test_paging_walks_every_record_once(sandbox: str, bearer: dict[str, str]) -> None:
    first = _query(sandbox, bearer, "SELECT Id FROM Opportunity ORDER BY Id").json()
    assert first["done"] is False
    assert len(first["records"]) == BATCH
    records, pages = _all_pages(sandbox, bearer, "SELECT Id FROM Opportunity ORDER BY Id")
    ids = [r["Id"] for r in records]
    assert len(ids) == first["totalSize"] >= 202
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert pages == -(-len(ids) // BATCH)


def test_batch_size_header_is_honoured_within_200_to_2000(sandbox: str, bearer: dict[str, str]) -> None:
    soql = "SELECT Id FROM Opportunity"
    big = _query(sandbox, bearer, soql, **{"Sforce-Query-Options": "batchSize=2000"}).json()
    assert big["done"] is True
    assert len(big["records"]) == big["totalSize"]
    clamped = _query(sandbox, bearer, soql, **{"Sforce-Query-Options": "batchSize=10"}).json()
    assert len(clamped["records"]) == 200


def test_where_order_by_and_limit(sandbox: str, bearer: dict[str, str]) -> None:
    soql = (
        "SELECT Id, Amount, CurrencyIsoCode, SystemModstamp FROM Opportunity "
        "WHERE Region__c = 'DACH' AND Amount >= 10000 AND SystemModstamp < 2026-11-01T00:00:00Z "
        "ORDER BY Amount DESC, Id LIMIT 7"
    )
    body = _query(sandbox, bearer, soql).json()
    amounts = [Decimal(str(r["Amount"])) for r in body["records"]]
    assert body["totalSize"] == len(amounts) == 7
    assert amounts == sorted(amounts, reverse=True)
    assert all(a >= 10000 for a in amounts)
    assert {r["CurrencyIsoCode"] for r in body["records"]} == {"EUR"}


def test_relationship_fields_come_back_nested(sandbox: str, bearer: dict[str, str]) -> None:
    soql = (
        "SELECT Id, Quantity, TotalPrice, Product2.ProductCode FROM OpportunityLineItem "
        "WHERE OpportunityId IN ('0068d00000DEMO1AAA', '0068d00000DEMO2AAA') ORDER BY Product2.ProductCode, Id"
    )
    records = _query(sandbox, bearer, soql).json()["records"]
    assert [(r["Product2"]["ProductCode"], r["TotalPrice"]) for r in records] == [
        ("FIG-PLAT", 12000.0), ("FIG-SUPP", 2400.0), ("FIG-SUPP", 3000.0),
    ]  # fmt: skip
    assert records[0]["Product2"]["attributes"]["type"] == "Product2"


def test_or_groups_select_the_union(sandbox: str, bearer: dict[str, str]) -> None:
    either = "SELECT Id FROM Opportunity WHERE Id = '0068d00000DEMO1AAA' OR Id = '0068d00000DEMO2AAA' ORDER BY Id"
    assert [r["Id"] for r in _query(sandbox, bearer, either).json()["records"]] == [
        "0068d00000DEMO1AAA", "0068d00000DEMO2AAA",
    ]  # fmt: skip
    # The keyset form the CRM feeds use: the rest of one value after an id, or any later value.
    base = "SELECT Id FROM Opportunity WHERE CurrencyIsoCode = 'EUR' AND "
    after_demo1 = "((Amount = 14400.00 AND Id > '0068d00000DEMO1AAA') OR Amount > 14400.00)"
    rows = _query(sandbox, bearer, base + after_demo1 + " ORDER BY Amount, Id").json()["records"]
    from_demo1 = _query(sandbox, bearer, base + "Amount >= 14400.00 ORDER BY Amount, Id").json()["records"]
    assert from_demo1[0]["Id"] == "0068d00000DEMO1AAA"
    assert rows == from_demo1[1:] != []


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id Opportunity", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE Name = 'x' AND Name = 'y' OR Name = 'z'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity WHERE (Name = 'x' OR Name = 'y'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Opportunity LIMIT", "MALFORMED_QUERY"),
        ("SELECT Colour__c FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE SystemModstamp > '2026-01-01'", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity WHERE IsWon = 'true'", "INVALID_FIELD"),
        ("SELECT Id FROM Lead", "INVALID_TYPE"),
    ],
)
def test_bad_queries_get_vendor_400s(sandbox: str, bearer: dict[str, str], soql: str, code: str) -> None:
    response = _query(sandbox, bearer, soql)
    assert response.status_code == 400
    [error] = response.json()
    assert error["errorCode"] == code
    assert error["message"]


def test_unknown_query_locator_is_refused(sandbox: str, bearer: dict[str, str]) -> None:
    response = httpx.get(f"{sandbox}{V}/query/01g8dNOPE-200", headers=bearer)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_answers_like_query(sandbox: str, bearer: dict[str, str]) -> None:
    response = httpx.get(f"{sandbox}{V}/queryAll", params={"q": "SELECT Id FROM Account LIMIT 3"}, headers=bearer)
    assert response.status_code == 200
    assert response.json()["totalSize"] == 3
