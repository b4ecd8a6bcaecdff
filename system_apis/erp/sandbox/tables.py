"""The SuiteQL view of the account: each table's columns and rows, built from the records on demand.

Column names follow NetSuite's SuiteQL schema where we use them; two tables are flattened for the
emulator: `transactionaccountingline` carries `subsidiary`, `postingperiod`, `item` and the account
*number* (NetSuite would need joins to `transaction`, `transactionline` and `account`), and
`salestaxitem` carries its subsidiary (NetSuite links tax codes to a nexus).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from system_apis.erp.sandbox.store import TERM_IDS, Store, format_time

__all__ = ["COLUMNS", "TIME_COLUMNS", "table_rows"]

Row = dict[str, Any]

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
    "salestaxitem": ("id", "itemid", "description", "rate", "country", "subsidiary"),
    "term": ("id", "name"),
}


def _customers(store: Store) -> list[Row]:
    return [
        {
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
        for c in store.state.customers.values()
    ]


def _transactions(store: Store) -> list[Row]:
    return [
        {
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
        for o in store.state.sales_orders.values()
    ]


def _transaction_lines(store: Store) -> list[Row]:
    """Item lines of sales orders (`mainline = 'F'`); NetSuite's `netamount` sign conventions are not emulated."""
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
        for o in store.state.sales_orders.values()
        for line in o.lines
    ]


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


def table_rows(store: Store, table: str) -> list[Row] | None:
    """Every row of `table` (lower-case name), or None when the account has no such table."""
    builder = _BUILDERS.get(table)
    return builder(store) if builder is not None else None
