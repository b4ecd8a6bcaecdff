"""The emulated account's records, held in memory and optionally persisted under a data directory.

The record types live in `records.py` and are re-exported here.

Every mutation goes through `Store`; the sandbox runs on one event loop and no handler awaits
while it changes records, so each request's change is atomic without locks. With a data
directory the state is a snapshot (`netsuite.json`) plus a journal (`netsuite.journal`) with one
line per mutation (the changed record and the id counters); see `journal.py` for the durability.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from servicekit.journal import Journal, new_generation, write_atomically
from system_apis.erp.sandbox.records import (
    TERM_IDS,
    TERMS,
    AccountingPeriod,
    AccountState,
    Certificate,
    Currency,
    CustomerRecord,
    Item,
    JournalEntry,
    OrderLine,
    PostingLine,
    SalesOrderRecord,
    Subsidiary,
    TaxCode,
    format_time,
    utcnow,
)

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
    "Store",
    "Subsidiary",
    "TaxCode",
    "format_time",
    "utcnow",
]

STATE_FILE = "netsuite.json"
JOURNAL_FILE = "netsuite.journal"
_entry_decoder = msgspec.json.Decoder(JournalEntry)
_encoder = msgspec.json.Encoder()


class Store:
    """The account state plus its persistence; indexes by external id are rebuilt on load."""

    def __init__(self, state: AccountState, data_dir: Path | None = None) -> None:
        self.state = state
        self.path = data_dir / STATE_FILE if data_dir is not None else None
        self.journal = Journal(data_dir / JOURNAL_FILE) if data_dir is not None else None
        self._customer_eids: dict[str, str] = {}
        self._order_eids: dict[str, str] = {}
        #: SuiteQL rows built from a record, by table and record id (tables.py); dropped on every
        #: write of that record, so a query never sees a row older than the record.
        self.rows: dict[str, dict[str, Any]] = {}
        #: Per record kind ("customer", "sales_order"), built on first use and kept by the `put_*`s:
        #: (last_modified, id) sorted, each id's indexed time, and each id's position in its table.
        self._by_modified: dict[str, list[tuple[datetime, str]]] = {}
        self._modified_at: dict[str, dict[str, datetime]] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._reindex()

    @classmethod
    def load(cls, data_dir: Path) -> Store | None:
        """The persisted state under `data_dir` (snapshot + journal replayed), or None when there is none yet.

        The caller compacts (`save`) once it has finished its own start-up changes.
        """
        path = data_dir / STATE_FILE
        if not path.exists():
            return None
        store = cls(msgspec.json.decode(path.read_bytes(), type=AccountState), data_dir)
        assert store.journal is not None
        store.journal.replay(store.state.journal_generation, store._replay)
        store._reindex()
        return store

    def replace(self, state: AccountState) -> None:
        self.state = state
        self._reindex()
        self.save()

    def _reindex(self) -> None:
        self.rows.clear()
        self._by_modified.clear()
        self._modified_at.clear()
        self._positions.clear()
        self._customer_eids = {c.external_id: c.id for c in self.state.customers.values() if c.external_id}
        self._order_eids = {o.external_id: o.id for o in self.state.sales_orders.values() if o.external_id}

    def save(self) -> None:
        """Compact: write the whole state as a fresh snapshot and start an empty journal."""
        if self.path is None or self.journal is None:
            return
        self.state.journal_generation = new_generation()
        write_atomically(self.path, _encoder.encode(self.state))
        self.journal.start(self.state.journal_generation)

    def close(self) -> None:
        """Clean shutdown: compact and remove the (then empty) journal."""
        if self.journal is not None:
            self.save()
            self.journal.close(remove=True)

    def _log(self, entry: JournalEntry) -> None:
        if self.journal is None:
            return
        self.journal.append(_encoder.encode(entry))
        if self.journal.full:
            self.save()

    def _counters(self) -> tuple[int, int, int]:
        state = self.state
        return (state.next_customer_id, state.next_sales_order_id, state.next_tran_number)

    def _replay(self, line: bytes) -> None:
        entry = _entry_decoder.decode(line)
        state = self.state
        state.next_customer_id, state.next_sales_order_id, state.next_tran_number = entry.counters
        if entry.customer is not None:
            state.customers[entry.customer.id] = entry.customer
        if entry.sales_order is not None:
            state.sales_orders[entry.sales_order.id] = entry.sales_order
        if entry.period is not None:
            state.periods[entry.period.id] = entry.period
        if entry.certificate is not None:
            state.certificates[entry.certificate.kid] = entry.certificate
        if entry.posting is not None:
            state.postings.append(entry.posting)

    # reference and ledger records -------------------------------------------------------------

    def put_period(self, record: AccountingPeriod) -> None:
        self.state.periods[record.id] = record
        self._log(JournalEntry(counters=self._counters(), period=record))

    def put_certificate(self, record: Certificate) -> None:
        self.state.certificates[record.kid] = record
        self._log(JournalEntry(counters=self._counters(), certificate=record))

    def add_posting(self, line: PostingLine) -> None:
        self.state.postings.append(line)
        self._log(JournalEntry(counters=self._counters(), posting=line))

    # narrowing SuiteQL scans -------------------------------------------------------------------

    def _table(self, kind: str) -> Mapping[str, CustomerRecord | SalesOrderRecord]:
        return self.state.customers if kind == "customer" else self.state.sales_orders

    def modified_since(self, kind: str, floor: datetime) -> list[str] | None:
        """Ids of `kind` ("customer" or "sales_order") last modified at or after `floor`, in table order;
        None when a stored time has no zone (the caller then scans)."""
        entries = self._by_modified.get(kind)
        if entries is None:
            table = self._table(kind)
            if any(r.last_modified.tzinfo is None for r in table.values()) or floor.tzinfo is None:
                return None
            self._modified_at[kind] = {i: r.last_modified for i, r in table.items()}
            entries = self._by_modified[kind] = sorted((t, i) for i, t in self._modified_at[kind].items())
        found = [i for _, i in entries[bisect.bisect_left(entries, (floor, "")) :]]
        return self.in_table_order(kind, found)

    def in_table_order(self, kind: str, ids: Iterable[str]) -> list[str]:
        """The ids of existing records of `kind` among `ids`, in the order a scan of the table meets them."""
        positions = self._positions.get(kind)
        if positions is None:
            positions = self._positions[kind] = {i: n for n, i in enumerate(self._table(kind))}
        return sorted((i for i in set(ids) if i in positions), key=positions.__getitem__)

    def _written(self, kind: str, record: CustomerRecord | SalesOrderRecord) -> None:
        """Keep the narrowing indexes of `kind` current after `record` was stored."""
        positions = self._positions.get(kind)
        if positions is not None and record.id not in positions:
            positions[record.id] = len(positions)
        entries = self._by_modified.get(kind)
        if entries is None:
            return
        if record.last_modified.tzinfo is None:  # cannot be ordered with the others: stop indexing
            del self._by_modified[kind]
            return
        at = self._modified_at[kind]
        old = at.get(record.id)
        if old is not None:
            n = bisect.bisect_left(entries, (old, record.id))
            if n < len(entries) and entries[n] == (old, record.id):
                del entries[n]
        at[record.id] = record.last_modified
        bisect.insort(entries, (record.last_modified, record.id))

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
        self.rows.get("customer", {}).pop(record.id, None)
        self._written("customer", record)
        if record.external_id:
            self._customer_eids[record.external_id] = record.id
        self._log(JournalEntry(counters=self._counters(), customer=record))

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
        self.rows.get("transaction", {}).pop(record.id, None)
        self.rows.get("transactionline", {}).pop(record.id, None)
        self._written("sales_order", record)
        if record.external_id:
            self._order_eids[record.external_id] = record.id
        self._log(JournalEntry(counters=self._counters(), sales_order=record))

    def orders_with_external_id(self, external_id: str) -> list[SalesOrderRecord]:
        """Every order carrying `external_id` (a scan on purpose: tests use it to prove there is one)."""
        return [o for o in self.state.sales_orders.values() if o.external_id == external_id]
