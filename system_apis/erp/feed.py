"""The ERP change feeds: booked sales orders, closed periods and changed customers become events.

- SalesOrderFeed: `transaction` rows of type SalesOrd; each order once, when booked (B, D-G);
  event id `erp-so-booked-<id>`; keys `fig:feed:{erp}:salesOrder` (watermark) and `...:booked`.
- PeriodFeed: `accountingperiod`; each period once, when closed; `erp-period-closed-<id>`;
  keys `fig:feed:{erp}:accountingPeriod` and `...:closed`.
- CustomerFeed: `customer`; every change; `erp-customer-changed-<id>-<epoch ms>`;
  key `fig:feed:{erp}:customer`.

All publish to `contracts.streams.ERP_EVENTS` (`fig:events:{erp}`); see `changefeed` for how each
page's events and its watermark commit together, exactly once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import CUSTOMER_CHANGED, PERIOD_CLOSED, SALES_ORDER_BOOKED, CloudEvent, Customer, event_source, new_event
from contracts.streams import ERP_EVENTS
from servicekit import new_correlation_id
from system_apis.erp.changefeed import ChangeFeed, SuiteQLSource, Watermark, run_feeds
from system_apis.erp.connector.ledger import PERIOD_COLUMNS, period_from_row
from system_apis.erp.connector.mapping import (
    BOOKED_CODES,
    SUBSIDIARY_ENTITIES,
    currency_code,
    is_booked,
    money,
    parse_time,
)
from system_apis.erp.connector.master import TERM_IDS

__all__ = [
    "ERP_STREAM",
    "PUBLISHED_KEY",
    "WATERMARK_KEY",
    "CustomerFeed",
    "PeriodFeed",
    "SalesOrderFeed",
    "SuiteQLSource",
    "Watermark",
    "customer_from_row",
    "run_feeds",
]

ERP_STREAM = ERP_EVENTS
WATERMARK_KEY = "fig:feed:{erp}:salesOrder"
#: Ids already announced as booked: a later change (B → billed) does not announce them again.
PUBLISHED_KEY = "fig:feed:{erp}:salesOrder:booked"
SOURCE = event_source("system-apis", "erp")
_TIMESTAMP = "TO_TIMESTAMP('{%s}', 'YYYY-MM-DD\"T\"HH24:MI:SS.FF3TZH:TZM')"
#: Rows modified in the feed's window: from the watermark up to the settle cutoff (see changefeed), so
#: rows still too young to consume are neither sent by NetSuite nor decoded here, poll after poll.
_SINCE = f"lastmodifieddate >= {_TIMESTAMP % 'since'} AND lastmodifieddate <= {_TIMESTAMP % 'until'}"
_TERM_NAMES = {v: k for k, v in TERM_IDS.items()}
#: Only booked orders are announced, so only their rows are fetched (a pending order's change is skipped
#: either way; it is fetched once its approval changes it again).
_BOOKED = ", ".join(f"'{code}'" for code in sorted(BOOKED_CODES))


class SalesOrderFeed(ChangeFeed):
    """`erp.sales_order.booked.v1` once per order, when NetSuite approved it (status B, D-G)."""

    kind = "sales order"
    query = (
        "SELECT id, externalid, subsidiary, currency, status, foreigntotal, lastmodifieddate FROM transaction "  # noqa: S608
        f"WHERE type = 'SalesOrd' AND status IN ({_BOOKED}) AND {_SINCE} ORDER BY lastmodifieddate, id"
    )
    default_watermark_key = WATERMARK_KEY
    default_published_key = PUBLISHED_KEY

    def wanted(self, row: dict[str, Any]) -> bool:
        return is_booked(str(row.get("status")))

    def event(self, row: dict[str, Any]) -> CloudEvent:
        order_id = str(row["id"])
        subsidiary = str(row.get("subsidiary"))
        currency = currency_code(row.get("currency"))
        total = money(row.get("foreigntotal", "0"), currency)
        return new_event(
            source=SOURCE,
            type=SALES_ORDER_BOOKED,
            subject=order_id,
            event_id=f"erp-so-booked-{order_id}",
            correlation_id=new_correlation_id(),
            legal_entity=SUBSIDIARY_ENTITIES.get(subsidiary),
            data={
                "sales_order_id": order_id,
                "external_id": row.get("externalid"),
                "subsidiary_id": subsidiary,
                "status_code": str(row.get("status")),
                "total": {"amount": str(total.amount), "currency": total.currency},
            },
        )


class PeriodFeed(ChangeFeed):
    """`erp.period.closed.v1` (data = canonical AccountingPeriod) once per period, when it closes."""

    kind = "accounting period"
    query = f"SELECT {PERIOD_COLUMNS} FROM accountingperiod WHERE {_SINCE} ORDER BY lastmodifieddate, id"  # noqa: S608 - constants
    default_watermark_key = "fig:feed:{erp}:accountingPeriod"
    default_published_key = "fig:feed:{erp}:accountingPeriod:closed"

    def wanted(self, row: dict[str, Any]) -> bool:
        return str(row.get("closed")) == "T"

    def event(self, row: dict[str, Any]) -> CloudEvent:
        period = period_from_row(row)
        return new_event(
            source=SOURCE,
            type=PERIOD_CLOSED,
            subject=str(row["id"]),
            event_id=f"erp-period-closed-{row['id']}",
            correlation_id=new_correlation_id(),
            legal_entity=period.legal_entity,
            data=msgspec.to_builtins(period),
        )


def customer_from_row(row: dict[str, Any]) -> Customer:
    """A canonical customer from a SuiteQL `customer` row (terms as a `term` id, credit limit a string)."""
    currency = currency_code(row.get("currency"))
    credit = row.get("creditlimit")
    terms = row.get("terms")
    return Customer(
        id=str(row["id"]),
        name=str(row.get("companyname") or ""),
        subsidiary_id=str(row.get("subsidiary")),
        currency=currency,
        external_id=row.get("externalid"),
        email=row.get("email"),
        terms=_TERM_NAMES.get(str(terms)) if terms is not None else None,
        credit_limit=money(credit, currency) if credit is not None else None,
        last_modified=parse_time(row.get("lastmodifieddate")),
    )


class CustomerFeed(ChangeFeed):
    """`erp.customer.changed.v1` (data = canonical Customer) for every change of a customer."""

    kind = "customer"
    query = (
        "SELECT id, externalid, companyname, subsidiary, currency, email, terms, creditlimit, lastmodifieddate "  # noqa: S608
        f"FROM customer WHERE {_SINCE} ORDER BY lastmodifieddate, id"
    )
    default_watermark_key = "fig:feed:{erp}:customer"

    def wanted(self, row: dict[str, Any]) -> bool:
        return True

    def event(self, row: dict[str, Any]) -> CloudEvent:
        customer = customer_from_row(row)
        stamp = customer.last_modified
        version = int(stamp.timestamp() * 1000) if stamp else 0
        return new_event(
            source=SOURCE,
            type=CUSTOMER_CHANGED,
            subject=customer.id,
            event_id=f"erp-customer-changed-{customer.id}-{version}",
            correlation_id=new_correlation_id(),
            legal_entity=SUBSIDIARY_ENTITIES.get(customer.subsidiary_id),
            data=msgspec.to_builtins(customer),
        )
