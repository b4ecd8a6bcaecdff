"""SOQL lookup indexes over the org's tables: by `Id`/reference value, and by `SystemModstamp`.

Built on first use, then kept current by the store's only writers (`insert`, `update`). Every
lookup answers in table order, the order a scan meets the records, so a query narrowed by an
index returns the same rows in the same order as a scan.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["TableIndexes"]

Record = dict[str, Any]

#: The stored `SystemModstamp` form: fixed-width UTC text, so it sorts as time.
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
_STAMP_FIELD = "SystemModstamp"


class TableIndexes:
    """(sobject, field) -> value -> ids; sobject -> sorted (stamp, id); sobject -> id -> table position."""

    def __init__(self, tables: Mapping[str, Mapping[str, Record]]) -> None:
        self.tables = tables
        self._values: dict[tuple[str, str], dict[Any, dict[str, None]]] = {}
        self._stamps: dict[str, list[tuple[str, str]]] = {}
        self._positions: dict[str, dict[str, int]] = {}

    def lookup(self, sobject: str, field: str, values: Iterable[str]) -> list[Record]:
        """Records whose `field` (`Id` or a reference field) is exactly one of `values`, in table order."""
        table = self.tables[sobject]
        if field == "Id":
            ids: Iterable[str] = [v for v in set(values) if v in table]
        else:
            index = self._index(sobject, field)
            ids = [i for v in set(values) for i in index.get(v, ())]
        return self._in_order(sobject, ids)

    def stamped_since(self, sobject: str, stamp: str) -> list[Record] | None:
        """Records whose `SystemModstamp` text is `stamp` or later, in table order; None when a stored
        stamp is not in the canonical wire form (the caller then scans)."""
        entries = self._stamps.get(sobject)
        if entries is None:
            table = self.tables[sobject]
            if not all(_STAMP.match(str(r.get(_STAMP_FIELD))) for r in table.values()):
                return None
            entries = self._stamps[sobject] = sorted((r[_STAMP_FIELD], i) for i, r in table.items())
        return self._in_order(sobject, [i for _, i in entries[bisect.bisect_left(entries, (stamp, "")) :]])

    def watched(self, sobject: str, record: Record, values: Mapping[str, Any]) -> dict[str, Any]:
        """Before an update of `record` with `values`: the old values the indexes must move away from."""
        old = {field: record.get(field) for name, field in self._values if name == sobject and field in values}
        old[_STAMP_FIELD] = record.get(_STAMP_FIELD)
        return old

    def inserted(self, sobject: str, record: Record) -> None:
        self.changed(sobject, record, None)

    def changed(self, sobject: str, record: Record, old: Mapping[str, Any] | None) -> None:
        """After `record` was inserted (`old` None) or updated (`old` from `watched`)."""
        record_id = record["Id"]
        positions = self._positions.get(sobject)
        if positions is not None and record_id not in positions:
            positions[record_id] = len(positions)
        for (name, field), index in self._values.items():
            if name != sobject or (old is not None and (field not in old or old[field] == record.get(field))):
                continue
            if old is not None and old[field] is not None:
                index.get(old[field], {}).pop(record_id, None)
            if record.get(field) is not None:
                index.setdefault(record[field], {})[record_id] = None
        entries = self._stamps.get(sobject)
        if entries is not None:
            stale = old.get(_STAMP_FIELD) if old is not None else None
            if stale is not None:
                at = bisect.bisect_left(entries, (stale, record_id))
                if at < len(entries) and entries[at] == (stale, record_id):
                    del entries[at]
            if not _STAMP.match(str(record.get(_STAMP_FIELD))):
                del self._stamps[sobject]  # cannot be ordered with the others: back to scanning
            else:
                bisect.insort(entries, (record[_STAMP_FIELD], record_id))

    def _index(self, sobject: str, field: str) -> dict[Any, dict[str, None]]:
        index = self._values.get((sobject, field))
        if index is None:
            index = self._values[(sobject, field)] = {}
            for record_id, record in self.tables[sobject].items():
                if record.get(field) is not None:
                    index.setdefault(record[field], {})[record_id] = None
        return index

    def _in_order(self, sobject: str, ids: Iterable[str]) -> list[Record]:
        positions = self._positions.get(sobject)
        if positions is None:
            positions = self._positions[sobject] = {i: n for n, i in enumerate(self.tables[sobject])}
        table = self.tables[sobject]
        return [table[i] for i in sorted(ids, key=positions.__getitem__)]
