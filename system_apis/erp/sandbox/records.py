"""The emulated account's record types: reference data, customers, sales orders, the ledger, and a journal entry.

All msgspec Structs, so the whole account encodes to (and decodes from) JSON exactly: money and
quantities are Decimal (strings on disk), times are aware datetimes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = [
    "TERMS",
    "TERM_IDS",
    "AccountState",
    "AccountingPeriod",
    "Certificate",
    "Currency",
    "CustomerRecord",
    "Item",
    "JournalEntry",
    "OrderLine",
    "PostingLine",
    "SalesOrderRecord",
    "Subsidiary",
    "TaxCode",
    "format_time",
    "utcnow",
]

#: The account's payment terms (`term` records): internal id → name. Customers store the name.
TERMS = {"1": "Net 15", "2": "Net 30", "3": "Net 45", "4": "Net 60", "5": "Due on receipt"}
TERM_IDS = {name: term_id for term_id, name in TERMS.items()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """NetSuite-style UTC timestamp, kept to milliseconds so the change feed can order writes."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Subsidiary(msgspec.Struct, kw_only=True):
    id: str
    name: str
    country: str
    currency_id: str
    legal_entity: str


class Currency(msgspec.Struct, kw_only=True):
    id: str
    symbol: str
    name: str


class Item(msgspec.Struct, kw_only=True):
    id: str
    item_id: str
    display_name: str
    revenue_category: str
    base_price: Decimal


class AccountingPeriod(msgspec.Struct, kw_only=True):
    id: str
    subsidiary_id: str
    name: str
    start_date: date
    end_date: date
    closed: bool
    last_modified: datetime
    closed_on: datetime | None = None


class TaxCode(msgspec.Struct, kw_only=True):
    """A SuiteTax tax code, flattened: one subsidiary (nexus) and one rate in percent.

    Two custom item fields (a tax code is an item in NetSuite) say where it applies:
    `custitem_fig_tax_jurisdictions` (comma-separated jurisdictions it is the default for) and
    `custitem_fig_revenue_category` (the one item category it is limited to; empty: every one).
    """

    id: str
    item_id: str
    description: str
    rate: Decimal
    country: str
    subsidiary_id: str
    jurisdictions: list[str] = msgspec.field(default_factory=list)
    revenue_category: str | None = None


class PostingLine(msgspec.Struct, kw_only=True):
    """One posted GL line (NetSuite `transactionaccountingline`): debit or credit on an account number."""

    transaction: str
    line: int
    subsidiary_id: str
    period_id: str
    account: str
    account_type: str
    debit: Decimal
    credit: Decimal
    item_id: str | None = None


class CustomerRecord(msgspec.Struct, kw_only=True):
    id: str
    company_name: str
    subsidiary_id: str
    currency_id: str
    date_created: datetime
    last_modified: datetime
    external_id: str | None = None
    email: str | None = None
    is_person: bool = False
    terms: str | None = None
    credit_limit: Decimal | None = None
    #: Custom entity fields of the customer master (`custentity_fig_*`).
    region: str | None = None
    industry: str | None = None
    billing_country: str | None = None
    tax_jurisdiction: str | None = None


class OrderLine(msgspec.Struct, kw_only=True):
    line: int
    item_id: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal
    description: str | None = None
    #: Closed lines are no longer fulfilled or billed; an order whose lines are all closed is Closed (H).
    is_closed: bool = False
    #: The line's tax code (`salestaxitem` id) of the order's subsidiary.
    tax_code_id: str | None = None


class SalesOrderRecord(msgspec.Struct, kw_only=True):
    id: str
    tran_id: str
    entity_id: str
    subsidiary_id: str
    currency_id: str
    tran_date: date
    order_status: str
    lines: list[OrderLine]
    date_created: datetime
    last_modified: datetime
    external_id: str | None = None
    memo: str | None = None
    other_ref: str | None = None
    #: Classification segments set on the order: `department`, `location`, `class` -> id.
    segments: dict[str, str] = msgspec.field(default_factory=dict)
    #: `custbody_*` custom body fields as written (plain values or `{"id": ...}`).
    custom_fields: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


class Certificate(msgspec.Struct, kw_only=True):
    """An M2M mapping: certificate id (`kid`) → integration client id and public key."""

    kid: str
    client_id: str
    public_key_pem: str


class AccountState(msgspec.Struct, kw_only=True):
    subsidiaries: dict[str, Subsidiary] = msgspec.field(default_factory=dict)
    currencies: dict[str, Currency] = msgspec.field(default_factory=dict)
    items: dict[str, Item] = msgspec.field(default_factory=dict)
    periods: dict[str, AccountingPeriod] = msgspec.field(default_factory=dict)
    customers: dict[str, CustomerRecord] = msgspec.field(default_factory=dict)
    sales_orders: dict[str, SalesOrderRecord] = msgspec.field(default_factory=dict)
    certificates: dict[str, Certificate] = msgspec.field(default_factory=dict)
    tax_codes: dict[str, TaxCode] = msgspec.field(default_factory=dict)
    postings: list[PostingLine] = msgspec.field(default_factory=list)
    next_customer_id: int = 1000
    next_sales_order_id: int = 5000
    next_tran_number: int = 10001
    #: Which journal continues this snapshot (see journal.py); 0 before the first compaction.
    journal_generation: int = 0


class JournalEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One mutation: the record(s) as they are after it, and the id counters (absolute, so replay is exact)."""

    counters: tuple[int, int, int]
    customer: CustomerRecord | None = None
    sales_order: SalesOrderRecord | None = None
    period: AccountingPeriod | None = None
    certificate: Certificate | None = None
    posting: PostingLine | None = None
