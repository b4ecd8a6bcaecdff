"""The SuiteQL view of the account: each table's columns and rows, built from the records on demand.

Customer, transaction and transaction-line rows are kept per record in `Store.rows` and rebuilt
only after that record's next write (the change feeds scan these tables twice a second).

Column names follow NetSuite's SuiteQL schema where we use them; two tables are flattened for the
emulator: `transactionaccountingline` carries `subsidiary`, `postingperiod`, `item` and the account
*number* (NetSuite would need joins to `transaction`, `transactionline` and `account`), and
`salestaxitem` carries its subsidiary (NetSuite links tax codes to a nexus).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from system_apis.erp.sandbox.store import TERM_IDS, CustomerRecord, SalesOrderRecord, Store, format_time

__all__ = ["COLUMNS", "NARROWABLE", "TIME_COLUMNS", "table_rows"]

Row = dict[str, Any]


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_R = TypeVar("_R", bound=_Identified)
_Out = TypeVar("_Out")

TIME_COLUMNS: Final = frozenset({"lastmodifieddate", "datecreated", "closedondate"})
COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "customer": (
        "id",
        "externalid",
        "companyname",
        "entityid",
        "subsidiary",
        "currency",
        "email",
        "terms",
        "creditlimit",
        "custentity_fig_region",
        "custentity_fig_industry",
        "custentity_fig_billing_country",
        "custentity_fig_tax_jurisdiction",
        "datecreated",
        "lastmodifieddate",
    ),
    "transaction": (
        "id",
        "type",
        "tranid",
        "externalid",
        "entity",
        "subsidiary",
        "currency",
        "status",
        "trandate",
        "foreigntotal",
        "memo",
        "otherrefnum",
        "datecreated",
        "lastmodifieddate",
    ),
    "transactionline": ("transaction", "id", "mainline", "item", "quantity", "rate", "foreignamount"),
    "accountingperiod": (
        "id",
        "subsidiary",
        "periodname",
        "startdate",
        "enddate",
        "closed",
        "closedondate",
        "lastmodifieddate",
    ),
    "transactionaccountingline": (
        "transaction",
        "transactionline",
        "subsidiary",
        "postingperiod",
        "account",
        "accounttype",
        "debit",
        "credit",
        "item",
        "posting",
    ),
    "subsidiary": ("id", "name", "country", "currency", "custrecord_fig_legal_entity"),
    "currency": ("id", "symbol", "name"),
    "item": ("id", "itemid", "displayname", "itemtype", "baseprice", "custitem_fig_revenue_category"),
    "salestaxitem": (
        "id",
        "itemid",
        "description",
        "rate",
        "country",
        "subsidiary",
        "custitem_fig_tax_jurisdictions",
        "custitem_fig_revenue_category",
    ),
    "term": ("id", "name"),
}


def _cached(store: Store, table: str, records: Iterable[_R], build: Callable[[_R], _Out]) -> list[_Out]:
    """`build(record)` for every record, reusing what the store kept since the record's last write."""
    cache: dict[str, _Out] = store.rows.setdefault(table, {})
    out = []
    for record in records:
        row = cache.get(record.id)
        if row is None:
            row = cache[record.id] = build(record)
        out.append(row)
    return out


def _customer_row(c: CustomerRecord) -> Row:
    return {
        "id": c.id,
        "externalid": c.external_id,
        "companyname": c.company_name,
        "entityid": f"CUS{c.id}",
        "subsidiary": c.subsidiary_id,
        "currency": c.currency_id,
        "email": c.email,
        "terms": TERM_IDS.get(c.terms) if c.terms else None,
        "creditlimit": str(c.credit_limit) if c.credit_limit is not None else None,
        "custentity_fig_region": c.region,
        "custentity_fig_industry": c.industry,
        "custentity_fig_billing_country": c.billing_country,
        "custentity_fig_tax_jurisdiction": c.tax_jurisdiction,
        "datecreated": format_time(c.date_created),
        "lastmodifieddate": format_time(c.last_modified),
    }


def _customers(store: Store, only: Iterable[CustomerRecord] | None = None) -> list[Row]:
    return _cached(store, "customer", store.state.customers.values() if only is None else only, _customer_row)


def _transaction_row(o: SalesOrderRecord) -> Row:
    return {
        "id": o.id,
        "type": "SalesOrd",
        "tranid": o.tran_id,
        "externalid": o.external_id,
        "entity": o.entity_id,
        "subsidiary": o.subsidiary_id,
        "currency": o.currency_id,
        "status": o.order_status,
        "trandate": o.tran_date.isoformat(),
        "foreigntotal": str(o.total),
        "memo": o.memo,
        "otherrefnum": o.other_ref,
        "datecreated": format_time(o.date_created),
        "lastmodifieddate": format_time(o.last_modified),
    }


def _transactions(store: Store, only: Iterable[SalesOrderRecord] | None = None) -> list[Row]:
    return _cached(store, "transaction", store.state.sales_orders.values() if only is None else only, _transaction_row)


def _line_rows(o: SalesOrderRecord) -> list[Row]:
    return [
        {
            "transaction": o.id,
            "id": line.line,
            "mainline": "F",
            "item": line.item_id,
            "quantity": str(line.quantity),
            "rate": str(line.rate),
            "foreignamount": str(line.amount),
        }
        for line in o.lines
    ]


def _transaction_lines(store: Store, only: Iterable[SalesOrderRecord] | None = None) -> list[Row]:
    """Item lines of sales orders (`mainline = 'F'`); NetSuite's `netamount` sign conventions are not emulated."""
    orders = store.state.sales_orders.values() if only is None else only
    per_order = _cached(store, "transactionline", orders, _line_rows)
    return [row for rows in per_order for row in rows]


def _periods(store: Store) -> list[Row]:
    return [
        {
            "id": p.id,
            "subsidiary": p.subsidiary_id,
            "periodname": p.name,
            "startdate": p.start_date.isoformat(),
            "enddate": p.end_date.isoformat(),
            "closed": "T" if p.closed else "F",
            "closedondate": format_time(p.closed_on) if p.closed_on else None,
            "lastmodifieddate": format_time(p.last_modified),
        }
        for p in store.state.periods.values()
    ]


def _postings(store: Store) -> list[Row]:
    return [
        {
            "transaction": p.transaction,
            "transactionline": p.line,
            "subsidiary": p.subsidiary_id,
            "postingperiod": p.period_id,
            "account": p.account,
            "accounttype": p.account_type,
            "debit": str(p.debit),
            "credit": str(p.credit),
            "item": p.item_id,
            "posting": "T",
        }
        for p in store.state.postings
    ]


def _subsidiaries(store: Store) -> list[Row]:
    return [
        {
            "id": s.id,
            "name": s.name,
            "country": s.country,
            "currency": s.currency_id,
            "custrecord_fig_legal_entity": s.legal_entity,
        }
        for s in store.state.subsidiaries.values()
    ]


def _currencies(store: Store) -> list[Row]:
    return [{"id": c.id, "symbol": c.symbol, "name": c.name} for c in store.state.currencies.values()]


def _items(store: Store) -> list[Row]:
    return [
        {
            "id": i.id,
            "itemid": i.item_id,
            "displayname": i.display_name,
            "itemtype": "Service",
            "baseprice": str(i.base_price),
            "custitem_fig_revenue_category": i.revenue_category,
        }
        for i in store.state.items.values()
    ]


def _tax_codes(store: Store) -> list[Row]:
    return [
        {
            "id": t.id,
            "itemid": t.item_id,
            "description": t.description,
            "rate": str(t.rate),
            "country": t.country,
            "subsidiary": t.subsidiary_id,
            "custitem_fig_tax_jurisdictions": ",".join(t.jurisdictions) or None,
            "custitem_fig_revenue_category": t.revenue_category,
        }
        for t in store.state.tax_codes.values()
    ]


def _terms(_: Store) -> list[Row]:
    return [{"id": term_id, "name": name} for name, term_id in TERM_IDS.items()]


_BUILDERS: Final[dict[str, Callable[[Store], list[Row]]]] = {
    "customer": _customers,
    "transaction": _transactions,
    "transactionline": _transaction_lines,
    "accountingperiod": _periods,
    "transactionaccountingline": _postings,
    "subsidiary": _subsidiaries,
    "currency": _currencies,
    "item": _items,
    "salestaxitem": _tax_codes,
    "term": _terms,
}


#: Tables a query can narrow before the scan: table -> (record kind, column holding the record id).
NARROWABLE: Final[dict[str, tuple[str, str]]] = {
    "customer": ("customer", "id"),
    "transaction": ("sales_order", "id"),
    "transactionline": ("sales_order", "transaction"),
}


def table_rows(
    store: Store, table: str, *, ids: Iterable[str] | None = None, since: datetime | None = None
) -> list[Row] | None:
    """The rows of `table` (lower-case name) a query needs to filter, or None when there is no such table.

    `ids` (values of the table's record-id column, see NARROWABLE) and `since` (a floor on
    `lastmodifieddate`) come from the query's own conditions: they narrow the rows to a superset
    of the matches, in the order a full scan returns them; the caller still applies every condition.
    """
    builder = _BUILDERS.get(table)
    if builder is None:
        return None
    narrowable = NARROWABLE.get(table)
    chosen: list[str] | None = None
    if narrowable is not None and ids is not None:
        chosen = store.in_table_order(narrowable[0], ids)
    elif narrowable is not None and since is not None and table != "transactionline":
        chosen = store.modified_since(narrowable[0], since)
    if chosen is None or narrowable is None:
        return builder(store)
    if narrowable[0] == "customer":
        return _customers(store, [store.state.customers[i] for i in chosen])
    orders = [store.state.sales_orders[i] for i in chosen]
    return _transactions(store, orders) if table == "transaction" else _transaction_lines(store, orders)
