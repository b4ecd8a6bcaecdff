"""A tiny SuiteQL subset: what the connector and the change feed emit, and nothing more.

Accepted: `SELECT <cols|*> FROM <table> [WHERE c AND c ...] [ORDER BY col[, col ...]]` over the
tables of `tables.py`, where each condition is `col <op> 'text'`, `col <op> <number>`,
`col <op> TO_TIMESTAMP('<ISO 8601>', '<format>')`, `col <op> TO_DATE('YYYY-MM-DD', '<format>')` or
`col IN ('A', 'B')`, with `<op>` one of `= <> != > >= < <=`. That covers: customers, sales orders
and accounting periods changed since X ordered by `lastmodifieddate, id`, sales orders by status,
subsidiary and `trandate` range (keyset-paged by id), periods per subsidiary, posted GL lines of a
period, and the reference tables. No joins, aggregates, OR or functions beyond the two casts:
anything else is refused with 400 `INVALID_PARAMETER`, like an unknown identifier.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.store import Store
from system_apis.erp.sandbox.tables import COLUMNS, NARROWABLE, TIME_COLUMNS, table_rows

__all__ = ["run_query"]

Row = dict[str, Any]

_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>\w+)"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_OP = r"(?P<op><>|!=|>=|<=|=|>|<)"
_TIMESTAMP = re.compile(rf"^(?P<col>\w+)\s*{_OP}\s*TO_TIMESTAMP\(\s*'(?P<value>[^']+)'\s*,\s*'[^']*'\s*\)$", re.I)
_DATE = re.compile(
    rf"^(?P<col>\w+)\s*{_OP}\s*TO_DATE\(\s*'(?P<value>\d{{4}}-\d{{2}}-\d{{2}})'\s*,\s*'[^']*'\s*\)$", re.I
)
_TEXT = re.compile(rf"^(?P<col>\w+)\s*{_OP}\s*'(?P<value>[^']*)'$", re.I)
_NUMBER = re.compile(rf"^(?P<col>\w+)\s*{_OP}\s*(?P<value>-?\d+(?:\.\d+)?)$", re.I)
_IN = re.compile(r"^(?P<col>\w+)\s+IN\s*\((?P<values>\s*'[^']*'(?:\s*,\s*'[^']*')*\s*)\)$", re.I)
_AND = re.compile(r"\s+AND\s+", re.I)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _refuse(detail: str) -> NetSuiteError:
    return NetSuiteError(
        400,
        "INVALID_PARAMETER",
        f"Invalid search query. Detailed unprocessed description follows. Search error occurred: {detail}",
    )


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T"))
    except ValueError:
        raise _refuse(f"invalid timestamp literal {value!r} (use ISO 8601)") from None
    if parsed.tzinfo is None:
        raise _refuse(f"timestamp literal {value!r} needs a UTC offset or Z")
    return parsed


def _condition(text: str, columns: set[str]) -> Callable[[Row], bool]:
    text = text.strip()
    for pattern, kind in ((_TIMESTAMP, "time"), (_DATE, "text"), (_TEXT, "text"), (_NUMBER, "number"), (_IN, "in")):
        match = pattern.match(text)
        if match is None:
            continue
        col = match["col"].lower()
        if col not in columns:
            raise _refuse(f"Unknown identifier '{match['col']}'")
        if kind == "in":
            wanted = {v.strip().strip("'") for v in match["values"].split(",")}
            return lambda row: row[col] in wanted
        compare = _OPS[match["op"]]
        if kind == "time":
            bound = _parse_time(match["value"])
            return lambda row: row[col] is not None and compare(_row_time(row[col]), bound)
        if kind == "number":
            number = Decimal(match["value"])
            return lambda row: _as_number(row[col]) is not None and compare(_as_number(row[col]), number)
        value = match["value"]
        return lambda row: row[col] is not None and compare(row[col], value)
    raise _refuse(f"unsupported condition {text!r}")


_TIMES: dict[str, datetime] = {}
_TIMES_MAX = 500_000


def _row_time(text: str) -> datetime:
    """A row's timestamp column as a datetime, memoised: the change feeds compare every row's twice a second."""
    parsed = _TIMES.get(text)
    if parsed is None:
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        parsed = _TIMES[text] = datetime.fromisoformat(text)
    return parsed


def _narrowing(parts: list[str], id_column: str) -> tuple[set[str] | None, datetime | None]:
    """What the ANDed conditions pin: the record ids (`<id column> = 'x'` / `IN (...)`) and a floor
    on `lastmodifieddate` (`=`, `>`, `>=` a timestamp); the change feeds and the order lines use both."""
    ids: set[str] | None = None
    floor: datetime | None = None
    for part in parts:
        text = part.strip()
        # The same pattern order as `_condition`, so a part is read the same way here and there.
        if (match := _TIMESTAMP.match(text)) is not None:
            if match["col"].lower() == "lastmodifieddate" and match["op"] in ("=", ">", ">="):
                bound = _parse_time(match["value"])
                floor = bound if floor is None else max(floor, bound)
            continue
        if _DATE.match(text) is not None:
            continue
        if (match := _TEXT.match(text)) is not None:
            if match["col"].lower() == id_column and match["op"] == "=":
                ids = {match["value"]} if ids is None else ids & {match["value"]}
            continue
        if _NUMBER.match(text) is not None:
            continue
        if (match := _IN.match(text)) is not None and match["col"].lower() == id_column:
            wanted = {v.strip().strip("'") for v in match["values"].split(",")}
            ids = wanted if ids is None else ids & wanted
    return ids, floor


def _as_number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None


def _sort_key(columns: list[str]) -> Callable[[Row], tuple[Any, ...]]:
    def key(row: Row) -> tuple[Any, ...]:
        parts: list[Any] = []
        for col in columns:
            value = row[col]
            number = _as_number(value) if col not in TIME_COLUMNS else None
            # Numbers sort numerically, everything else as text; NULLs first, as in Oracle ASC NULLS FIRST.
            parts.append(
                (value is not None, number if number is not None else Decimal(0), "" if value is None else str(value))
            )
        return tuple(parts)

    return key


def run_query(store: Store, query: str) -> list[Row]:
    """All rows of `query`, projected and ordered; paging is the caller's job."""
    match = _QUERY.match(query)
    if match is None:
        raise _refuse("only SELECT ... FROM ... [WHERE ...] [ORDER BY ...] is supported")
    table = match["table"].lower()
    if table not in COLUMNS:
        raise _refuse(f"Record '{match['table']}' was not found.")
    columns = set(COLUMNS[table])
    parts = _AND.split(match["where"]) if match["where"] else []
    conditions = [_condition(part, columns) for part in parts]
    rows: list[Row] | None = None
    if parts and table in NARROWABLE:
        ids, since = _narrowing(parts, NARROWABLE[table][1])
        if ids is not None or since is not None:
            # Only the narrowed rows are built: the change feeds poll every table several times a second.
            rows = table_rows(store, table, ids=ids, since=since)
    if rows is None:
        rows = table_rows(store, table) or []
    selected = [r for r in rows if all(c(r) for c in conditions)]
    if match["order"]:
        order = [c.strip().lower().removesuffix(" asc").strip() for c in match["order"].split(",")]
        for col in order:
            if col not in columns:
                raise _refuse(f"Unknown identifier '{col}' in ORDER BY (only ascending order is supported)")
        selected.sort(key=_sort_key(order))
    wanted = [c.strip().lower() for c in match["cols"].split(",")]
    if wanted == ["*"]:
        return selected
    for col in wanted:
        if col not in columns:
            raise _refuse(f"Unknown identifier '{col}'")
    return [{col: row[col] for col in wanted} for row in selected]
