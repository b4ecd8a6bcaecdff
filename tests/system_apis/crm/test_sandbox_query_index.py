"""Indexed SOQL paths (Id / reference lookups, SystemModstamp floors) answer exactly what a scan answers."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from system_apis.crm.sandbox.index import TableIndexes
from system_apis.crm.sandbox.query import execute
from system_apis.crm.sandbox.seed import seed_tables
from system_apis.crm.sandbox.soql import parse_soql
from system_apis.crm.sandbox.store import OrgStore, format_datetime

V = "v62.0"


class _Clock:
    """A clock that moves 1 ms per reading, so every write gets a distinct, later stamp."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


class _ScanIndexes(TableIndexes):
    """No index at all: every query scans (the reference answer)."""

    def lookup(self, sobject: str, field: str, values: Iterable[str]) -> list[dict[str, Any]]:
        wanted = set(values)
        return [r for r in self.tables[sobject].values() if r.get(field) in wanted]

    def stamped_since(self, sobject: str, stamp: str) -> None:
        return None


def _pair() -> tuple[OrgStore, OrgStore]:
    tables = seed_tables(20261127, 1)
    # One clock each: the same writes in both orgs get the same stamps.
    indexed = OrgStore(tables, clock=_Clock())
    scanned = OrgStore({k: {i: dict(r) for i, r in v.items()} for k, v in tables.items()}, clock=_Clock())
    scanned.indexes = _ScanIndexes(scanned.tables)
    return indexed, scanned


def _same(indexed: OrgStore, scanned: OrgStore, soql: str) -> list[dict[str, Any]]:
    query = parse_soql(soql)
    got = execute(indexed, query, V)
    assert got == execute(scanned, query, V), soql
    return got


def test_indexed_queries_match_a_scan_before_and_after_writes() -> None:
    indexed, scanned = _pair()
    opportunities = list(indexed.tables["Opportunity"])
    accounts = list(indexed.tables["Account"])
    lines = list(indexed.tables["OpportunityLineItem"].values())
    some = [opportunities[7], opportunities[3], opportunities[150]]
    some_ids = ", ".join(f"'{i}'" for i in some)
    with_lines = sorted({str(line["OpportunityId"]) for line in lines})[:5]
    line_ids = ", ".join(f"'{i}'" for i in with_lines)
    queries = [
        f"SELECT Id, Name FROM Opportunity WHERE Id IN ({some_ids})",  # table order, not literal order
        f"SELECT Id FROM Opportunity WHERE Id = '{opportunities[42]}' AND Name != 'nobody'",
        f"SELECT Id, Quantity FROM OpportunityLineItem WHERE OpportunityId IN ({line_ids}) ORDER BY OpportunityId, Id",
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId IN ({line_ids})",
        f"SELECT Id, AccountId FROM Opportunity WHERE AccountId = '{accounts[1]}'",
    ]
    for soql in queries:
        assert _same(indexed, scanned, soql)
    moved = opportunities[10]
    before = format_datetime(_Clock().now)  # before either write
    for store in (indexed, scanned):  # the same writes in both orgs
        store.update("Opportunity", moved, {"AccountId": accounts[1], "StageName": "Closed Won"})
        store.update("Opportunity", opportunities[3], {"Name": "Renamed", "Approval_Status__c": "Approved"})
        store.insert("Account", {"Name": "New Account"})
    assert any(r["Id"] == moved for r in _same(indexed, scanned, queries[-1]))
    assert not any(r["Id"] == moved for r in _same(indexed, scanned, f"{queries[-1][:-20]}'{accounts[0]}'"))
    changed = [
        f"SELECT Id, SystemModstamp FROM Opportunity WHERE SystemModstamp > {before} ORDER BY SystemModstamp, Id",
        f"SELECT Id FROM Opportunity WHERE SystemModstamp >= {before}",
        f"SELECT Id FROM Account WHERE SystemModstamp > {before} ORDER BY SystemModstamp, Id LIMIT 5",
    ]
    for soql in changed:
        assert _same(indexed, scanned, soql)
    assert len(_same(indexed, scanned, changed[0])) == 2


@pytest.mark.parametrize("offset_ms", [-5000, -1, 0, 1, 5000])
def test_feed_keyset_queries_match_a_scan_around_a_stamp(offset_ms: int) -> None:
    indexed, scanned = _pair()
    for store in (indexed, scanned):
        for record_id in itertools.islice(store.tables["Opportunity"], 0, 60, 3):
            store.update("Opportunity", record_id, {"StageName": "Closed Won", "Approval_Status__c": "Approved"})
    stamps = sorted((r["SystemModstamp"], r["Id"]) for r in indexed.tables["Opportunity"].values())
    stamp, record_id = stamps[-10]
    base = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z")
    # Sub-millisecond literals too: the floor must still include every record the scan finds.
    at = (base + timedelta(milliseconds=offset_ms, microseconds=500)).isoformat().replace("+00:00", "Z")
    soql = (
        "SELECT Id, SystemModstamp FROM Opportunity "
        f"WHERE ((SystemModstamp = {at} AND Id > '{record_id}') OR SystemModstamp > {at}) "
        "AND IsWon = true AND Approval_Status__c = 'Approved' ORDER BY SystemModstamp, Id LIMIT 200"
    )
    _same(indexed, scanned, soql)
