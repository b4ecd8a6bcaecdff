"""SuiteQL narrowed by ids or a `lastmodifieddate` floor answers exactly what a full scan answers."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from system_apis.erp.sandbox import suiteql
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.settings import SandboxSettings
from system_apis.erp.sandbox.store import Store, format_time
from system_apis.erp.sandbox.suiteql import run_query
from system_apis.erp.sandbox.writes import apply_customer, apply_sales_order

_TS = "TO_TIMESTAMP('{}', 'YYYY-MM-DD\"T\"HH24:MI:SS.FF3TZH:TZM')"


def _scan(store: Store, query: str, monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    with monkeypatch.context() as patched:
        patched.setattr(suiteql, "_narrowing", lambda parts, column: (None, None))
        return run_query(store, query)


def _store_with_writes() -> tuple[Store, list[str]]:
    store = SandboxRuntime.start(SandboxSettings()).store
    orders = []
    for n in range(6):
        customer = apply_customer(store, {"companyName": f"N{n}", "subsidiary": {"id": "1"}}, None, f"SF-N{n}")
        store.put_customer(customer)
        line = {"item": {"id": "101"}, "quantity": Decimal(n + 1), "rate": Decimal("10.5")}
        order = apply_sales_order(store, {"entity": {"id": customer.id}, "item": {"items": [line]}}, None, f"SO-N{n}")
        store.put_sales_order(order)
        orders.append(order.id)
    # An update moves an old record to the end of the modification order (and a seeded one too).
    for ref in (orders[1], next(iter(store.state.sales_orders))):
        again = store.sales_order(ref)
        assert again is not None
        store.put_sales_order(apply_sales_order(store, {"memo": "touched"}, again))
    return store, orders


def test_narrowed_queries_match_a_full_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    store, orders = _store_with_writes()
    stamps = sorted(o.last_modified for o in store.state.sales_orders.values())
    floors = [
        stamps[0] - timedelta(days=1),
        stamps[len(stamps) // 2],
        stamps[-3],
        stamps[-1],
        stamps[-1] + timedelta(1),
    ]
    queries = []
    for floor in floors:
        for shifted in (floor, floor + timedelta(microseconds=400)):  # sub-millisecond literals too
            at = _TS.format(shifted.isoformat())
            queries += [
                "SELECT id, externalid, status, foreigntotal, lastmodifieddate FROM transaction "
                f"WHERE type = 'SalesOrd' AND lastmodifieddate >= {at} ORDER BY lastmodifieddate, id",
                "SELECT id, lastmodifieddate FROM customer "
                f"WHERE lastmodifieddate > {at} ORDER BY lastmodifieddate, id",
                f"SELECT id FROM transaction WHERE lastmodifieddate = {_TS.format(format_time(floor))}",
            ]
    ids = ", ".join(f"'{i}'" for i in [orders[4], orders[0], "999999", orders[2]])
    queries += [
        f"SELECT transaction, id, item, quantity, rate, foreignamount FROM transactionline "
        f"WHERE mainline = 'F' AND transaction IN ({ids}) ORDER BY transaction, id",
        f"SELECT transaction, id FROM transactionline WHERE transaction IN ({ids})",  # scan order, no ORDER BY
        f"SELECT * FROM transaction WHERE id IN ({ids}) AND id = '{orders[0]}'",
        f"SELECT id, companyname FROM customer WHERE id = '{store.state.sales_orders[orders[3]].entity_id}'",
        f"SELECT id FROM transaction WHERE status IN ('A') AND id > {int(orders[0])} ORDER BY id",
    ]
    hits = 0
    for query in queries:
        narrowed = run_query(store, query)
        assert narrowed == _scan(store, query, monkeypatch), query
        hits += bool(narrowed)
    assert hits >= len(queries) // 2  # the comparison is not between empty answers only
