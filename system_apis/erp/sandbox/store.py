"""The emulated account's records, held in memory and optionally persisted as one JSON file.

Every mutation goes through `Store`; the sandbox runs on one event loop and no handler awaits
while it changes records, so each request's change is atomic without locks. With a data
directory the whole state is rewritten atomically (temp file + rename) after each mutation.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

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
    "OrderLine",
    "PostingLine",
    "SalesOrderRecord",
    "Store",
    "Subsidiary",
    "TaxCode",
    "format_time",
    "utcnow",
]

STATE_FILE = "netsuite.json"
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
    """A SuiteTax tax code, flattened: one subsidiary (nexus) and one rate in percent."""

    id: str
    item_id: str
    description: str
    rate: Decimal
    country: str
    subsidiary_id: str


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


class Store:
    """The account state plus its persistence; indexes by external id are rebuilt on load."""

    def __init__(self, state: AccountState, data_dir: Path | None = None) -> None:
        self.state = state
        self.path = data_dir / STATE_FILE if data_dir is not None else None
        self._customer_eids: dict[str, str] = {}
        self._order_eids: dict[str, str] = {}
        self._reindex()

    @classmethod
    def load(cls, data_dir: Path) -> Store | None:
        """The persisted state under `data_dir`, or None when there is none yet."""
        path = data_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(msgspec.json.decode(path.read_bytes(), type=AccountState), data_dir)

    def replace(self, state: AccountState) -> None:
        self.state = state
        self._reindex()
        self.save()

    def _reindex(self) -> None:
        self._customer_eids = {c.external_id: c.id for c in self.state.customers.values() if c.external_id}
        self._order_eids = {o.external_id: o.id for o in self.state.sales_orders.values() if o.external_id}

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".netsuite-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(msgspec.json.encode(self.state))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # customers ---------------------------------------------------------------------------------

    def customer(self, ref: str) -> CustomerRecord | None:
        """By internal id, or by external id when `ref` is `eid:<externalId>`."""
        if ref.startswith("eid:"):
            found = self._customer_eids.get(ref[4:])
            return self.state.customers.get(found) if found else None
        return self.state.customers.get(ref)

    def new_customer_id(self) -> str:
        self.state.next_customer_id += 1
        return str(self.state.next_customer_id)

    def put_customer(self, record: CustomerRecord) -> None:
        self.state.customers[record.id] = record
        if record.external_id:
            self._customer_eids[record.external_id] = record.id
        self.save()

    # sales orders ------------------------------------------------------------------------------

    def sales_order(self, ref: str) -> SalesOrderRecord | None:
        if ref.startswith("eid:"):
            found = self._order_eids.get(ref[4:])
            return self.state.sales_orders.get(found) if found else None
        return self.state.sales_orders.get(ref)

    def new_sales_order_ids(self) -> tuple[str, str]:
        """A fresh internal id and transaction number (`SO10042`)."""
        self.state.next_sales_order_id += 1
        self.state.next_tran_number += 1
        return str(self.state.next_sales_order_id), f"SO{self.state.next_tran_number}"

    def put_sales_order(self, record: SalesOrderRecord) -> None:
        self.state.sales_orders[record.id] = record
        if record.external_id:
            self._order_eids[record.external_id] = record.id
        self.save()

    def orders_with_external_id(self, external_id: str) -> list[SalesOrderRecord]:
        """Every order carrying `external_id` (a scan on purpose: tests use it to prove there is one)."""
        return [o for o in self.state.sales_orders.values() if o.external_id == external_id]
