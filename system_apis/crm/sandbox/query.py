"""Running parsed SOQL against the store, and the server-side cursors behind `nextRecordsUrl`.

A query's result is materialised once; its pages are then served from that snapshot, as
Salesforce's query locators do, so writes between pages do not shift rows across page borders.
"""

from __future__ import annotations

import itertools
import operator
import secrets
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from system_apis.crm.sandbox.errors import ApiError
from system_apis.crm.sandbox.schema import RELATIONSHIPS
from system_apis.crm.sandbox.soql import AnyOf, Condition, FieldRef, Query, WhereItem
from system_apis.crm.sandbox.store import OrgStore, format_datetime
from system_apis.crm.sandbox.values import compare_value, typed

__all__ = ["QueryCursors", "execute", "render"]

Record = dict[str, Any]

_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _parent(store: OrgStore, record: Record, ref: FieldRef, sobject: str) -> Record | None:
    lookup, parent_type = RELATIONSHIPS[sobject][ref.relationship or ""]
    parent_id = record.get(lookup)
    return store.get(parent_type, parent_id) if parent_id else None


def _value(store: OrgStore, sobject: str, record: Record, ref: FieldRef) -> Any:
    if ref.relationship is None:
        return typed(ref.definition, record.get(ref.definition.name))
    parent = _parent(store, record, ref, sobject)
    return typed(ref.definition, parent.get(ref.definition.name)) if parent else None


class _Filter:
    """A WHERE condition with its literal converted once, not once per record."""

    __slots__ = ("expected", "field", "op")

    def __init__(self, condition: Condition) -> None:
        self.field = condition.field
        self.op = condition.op
        self.expected = compare_value(condition.field.definition, condition.value)

    def matches(self, store: OrgStore, sobject: str, record: Record) -> bool:
        actual = _value(store, sobject, record, self.field)
        if self.op == "IN":
            return actual in self.expected
        if self.op in ("=", "!="):
            return bool(_OPS[self.op](actual, self.expected))
        if actual is None or self.expected is None:
            return False
        return bool(_OPS[self.op](actual, self.expected))


class _AnyOf:
    """A compiled disjunction: one branch whose filters all match."""

    __slots__ = ("branches",)

    def __init__(self, group: AnyOf) -> None:
        self.branches = [[_compile(item) for item in branch] for branch in group.branches]

    def matches(self, store: OrgStore, sobject: str, record: Record) -> bool:
        return any(all(f.matches(store, sobject, record) for f in branch) for branch in self.branches)


def _compile(item: WhereItem) -> _Filter | _AnyOf:
    return _AnyOf(item) if isinstance(item, AnyOf) else _Filter(item)


def _url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/{sobject}/{record_id}"


def render(store: OrgStore, query: Query, record: Record, version: str) -> Record:
    """A record as the query resource returns it: `attributes`, then the selected fields in order."""
    out: Record = {"attributes": {"type": query.sobject, "url": _url(version, query.sobject, record["Id"])}}
    for ref in query.fields:
        if ref.relationship is None:
            out[ref.definition.name] = record.get(ref.definition.name)
            continue
        parent = _parent(store, record, ref, query.sobject)
        if parent is None:
            out[ref.relationship] = None
            continue
        nested = out.setdefault(
            ref.relationship, {"attributes": {"type": ref.parent, "url": _url(version, ref.parent or "", parent["Id"])}}
        )
        nested[ref.definition.name] = parent.get(ref.definition.name)
    return out


def _sort_key(store: OrgStore, query: Query) -> Callable[[Record], tuple[Any, ...]]:
    def key(record: Record) -> tuple[Any, ...]:
        parts: list[Any] = []
        for item in query.order:
            value = _value(store, query.sobject, record, item.field)
            # Nulls sort as one block before or after every value, whatever the direction.
            null_group = (1 if item.nulls_last else 0) if value is None else (0 if item.nulls_last else 1)
            parts.append((null_group, _Reversible(value, item.descending)))
        return tuple(parts)

    return key


class _Reversible:
    __slots__ = ("descending", "value")

    def __init__(self, value: Any, descending: bool) -> None:
        self.value = value
        self.descending = descending

    def __lt__(self, other: _Reversible) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(other.value < self.value) if self.descending else bool(self.value < other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversible) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]  # sort helper: compared, never hashed


_KEY_TYPES: Final = frozenset({"id", "reference"})


def _candidates(store: OrgStore, query: Query) -> Iterable[Record]:
    """The records a query must look at: by index when a top-level condition pins `Id` or a reference
    field with `=` or `IN` (feeds read lines `WHERE OpportunityId IN (...)`), else the whole table."""
    for item in query.where:
        if (
            isinstance(item, Condition)
            and item.field.relationship is None
            and item.op in ("=", "IN")
            and item.field.definition.type in _KEY_TYPES
        ):
            values = item.value if item.op == "IN" else (item.value,)
            if all(isinstance(v, str) for v in values):
                return store.indexes.lookup(query.sobject, item.field.definition.name, values)
    floor = _modstamp_floor(query.where)
    if floor is not None:
        # Stamps are stored to the millisecond: the floor cut to milliseconds keeps every match.
        found = store.indexes.stamped_since(query.sobject, format_datetime(floor))
        if found is not None:
            return found
    return store.records(query.sobject)


def _modstamp_floor(items: Iterable[WhereItem]) -> datetime | None:
    """A time every match's SystemModstamp is at or after, implied by these ANDed conditions (feeds
    poll `(SystemModstamp = X AND Id > Y) OR SystemModstamp > X`), or None."""
    floors: list[datetime] = []
    for item in items:
        if isinstance(item, AnyOf):
            branches = [_modstamp_floor(branch) for branch in item.branches]
            if branches and all(b is not None for b in branches):
                floors.append(min(b for b in branches if b is not None))
        elif (
            item.field.relationship is None
            and item.field.definition.name == "SystemModstamp"
            and item.op in ("=", ">", ">=")
            and isinstance(item.value, datetime)
        ):
            floors.append(item.value)
    return max(floors) if floors else None


def execute(store: OrgStore, query: Query, version: str, *, include_deleted: bool = False) -> list[Record]:
    """All matching records, ordered, offset and limited, rendered for the wire."""
    # Plain conditions before OR groups: the cheap ones reject most records first (same result).
    filters = sorted((_compile(item) for item in query.where), key=lambda f: isinstance(f, _AnyOf))
    rows = [
        r
        for r in _candidates(store, query)
        if (include_deleted or not r.get("IsDeleted")) and all(f.matches(store, query.sobject, r) for f in filters)
    ]
    if query.order:
        rows.sort(key=_sort_key(store, query))
    end = None if query.limit is None else query.offset + query.limit
    return [render(store, query, r, version) for r in itertools.islice(rows, query.offset, end)]


class QueryCursors:
    """Open query locators: `<locator>-<offset>` pages over a materialised result (LRU-bounded)."""

    def __init__(self, capacity: int = 200) -> None:
        self.capacity = capacity
        self._open: OrderedDict[str, list[Record]] = OrderedDict()

    def clear(self) -> None:
        self._open.clear()

    def page(self, rows: list[Record], version: str, batch_size: int, locator: str | None = None, offset: int = 0
             ) -> Record:  # fmt: skip
        """One page of `rows` starting at `offset`; opens a locator when more rows remain."""
        batch = rows[offset : offset + batch_size]
        body: Record = {"totalSize": len(rows), "done": offset + len(batch) >= len(rows)}
        if not body["done"]:
            if locator is None:
                locator = "01g8d" + secrets.token_hex(7).upper()[:13]
                self._open[locator] = rows
                while len(self._open) > self.capacity:
                    self._open.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{offset + len(batch)}"
        elif locator is not None:
            self._open.pop(locator, None)
        body["records"] = batch
        return body

    def resume(self, token: str, version: str, batch_size: int) -> Record:
        """The page a `nextRecordsUrl` names; INVALID_QUERY_LOCATOR when it expired or never existed."""
        locator, _, raw_offset = token.rpartition("-")
        rows = self._open.get(locator)
        if rows is None or not raw_offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        self._open.move_to_end(locator)
        return self.page(rows, version, batch_size, locator, int(raw_offset))
