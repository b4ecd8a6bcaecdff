"""Running an import or export definition against the cube.

An import validates every row against the model's lists and formats and writes the good rows as
cells (a later row with the same coordinates overwrites the earlier one, as in Anaplan); a file
whose header does not match the definition fails as a whole.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import msgspec

from system_apis.planning.sandbox.csvio import read_source, write_csv
from system_apis.planning.sandbox.cube import ActualCell, BookingCell, Cube
from system_apis.planning.sandbox.seed import (
    ACCOUNTS,
    ACTUAL_PRODUCTS,
    ACTUALS_COLUMNS,
    BOOKINGS_COLUMNS,
    CURRENCIES,
    ENTITIES,
    FIRST_PERIOD,
    LAST_PERIOD,
    PRODUCTS,
    ExportDefinition,
    ImportDefinition,
    Module,
    VersionDefinition,
)

__all__ = ["COLUMNS", "ImportOutcome", "export_result", "import_result", "run_export", "run_import"]

_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_AMOUNT = re.compile(r"^-?[0-9]{1,15}(\.[0-9]{1,6})?$")


class ImportOutcome(msgspec.Struct, kw_only=True, frozen=True):
    """What an import did: rows written, rows rejected (line, reason, values), or a whole-file error."""

    header: list[str]
    loaded: int = 0
    rejected: list[tuple[int, str, list[str]]] = msgspec.field(default_factory=list)
    file_error: str | None = None
    #: The cells written, in order (a later one with the same coordinates overwrote an earlier one).
    written: list[BookingCell | ActualCell] = msgspec.field(default_factory=list)


def _check_common(entity: str, period: str, currency: str, amount: str) -> str | None:
    if entity not in ENTITIES:
        return f"Entity '{entity}' is not an item of list E1 Legal Entities"
    if not _PERIOD.match(period):
        return f"Invalid period '{period}': expected YYYY-MM"
    if not FIRST_PERIOD <= period <= LAST_PERIOD:
        return f"Period '{period}' is outside the model timescale ({FIRST_PERIOD} to {LAST_PERIOD})"
    if currency not in CURRENCIES:
        return f"Currency '{currency}' is not an item of list C1 Currencies"
    if not _AMOUNT.match(amount):
        return f"Invalid number '{amount}' for line item Amount"
    return None


def _booking(values: Sequence[str]) -> BookingCell | str:
    code, entity, product, period, currency, amount = (v.strip() for v in values)
    if not code or len(code) > 64:
        return f"Invalid booking code '{code}': 1 to 64 characters required"
    if product not in PRODUCTS:
        return f"Product '{product}' is not an item of list P1 Products"
    problem = _check_common(entity, period, currency, amount)
    if problem:
        return problem
    return BookingCell(
        booking_code=code,
        entity=entity,
        product=product,
        period=period,
        currency=currency,
        amount=format(Decimal(amount), "f"),
    )


def _locked(version: VersionDefinition, period: str) -> str | None:
    """Why `version` refuses a write in `period`, or None when the period is in its edit window."""
    if version.edit_from is None or version.edit_to is None:
        return f"Version '{version.name}' is published and locked: none of its cells can be changed"
    if not version.edit_from <= period <= version.edit_to:
        return (
            f"Period '{period}' is outside the edit window of version '{version.name}' "
            f"({version.edit_from} to {version.edit_to})"
        )
    return None


def _actual(versions: Mapping[str, VersionDefinition], values: Sequence[str]) -> ActualCell | str:
    version_name, entity, period, account, product, currency, amount = (v.strip() for v in values)
    version = versions.get(version_name)
    if version is None:
        return f"Version '{version_name}' is not an item of Versions"
    if account not in ACCOUNTS:
        return f"Account '{account}' is not an item of list A1 Accounts"
    if product not in ACTUAL_PRODUCTS:
        return f"Product '{product}' is not an item of list P1 Products"
    problem = _check_common(entity, period, currency, amount)
    if problem:
        return problem
    if currency != ENTITIES[entity]:
        return f"Currency '{currency}' is not the reporting currency {ENTITIES[entity]} of entity {entity}"
    # Checked last, as Anaplan does: the row is valid, the version just does not take writes there.
    locked = _locked(version, period)
    if locked:
        return locked
    return ActualCell(
        version=version_name,
        entity=entity,
        period=period,
        account=account,
        product=product,
        currency=currency,
        amount=format(Decimal(amount), "f"),
    )


COLUMNS: dict[Module, tuple[str, ...]] = {"committed_bookings": BOOKINGS_COLUMNS, "actuals": ACTUALS_COLUMNS}


def run_import(
    cube: Cube, definition: ImportDefinition, content: bytes, versions: Sequence[VersionDefinition]
) -> ImportOutcome:
    """Execute `definition` on the uploaded `content`, writing accepted rows into `cube`.

    Actuals rows name their version; rows for a published version (or a period outside the
    version's edit window) are rejected with the reason, like any other invalid row.
    """
    expected = COLUMNS[definition.module]
    try:
        header, rows = read_source(content)
    except (UnicodeDecodeError, csv.Error) as exc:
        return ImportOutcome(header=[], file_error=f"The file could not be read as UTF-8 CSV: {exc}")
    if not rows:
        return ImportOutcome(header=header, file_error="The import data source contains no data rows")
    if [h.lower() for h in header] != [c.lower() for c in expected]:
        return ImportOutcome(
            header=header,
            file_error=f"Column headers {header} do not match the import definition {list(expected)}",
        )
    parse: Callable[[Sequence[str]], BookingCell | ActualCell | str] = (
        _booking if definition.module == "committed_bookings" else partial(_actual, {v.name: v for v in versions})
    )
    loaded = 0
    rejected: list[tuple[int, str, list[str]]] = []
    written: list[BookingCell | ActualCell] = []
    for row in rows:
        if len(row.values) != len(expected):
            rejected.append((row.line, f"Expected {len(expected)} columns, found {len(row.values)}", row.values))
            continue
        cell = parse(row.values)
        if isinstance(cell, str):
            rejected.append((row.line, cell, row.values))
        elif isinstance(cell, BookingCell):
            cube.put_booking(cell)
            written.append(cell)
            loaded += 1
        else:
            cube.put_actual(cell)
            written.append(cell)
            loaded += 1
    return ImportOutcome(header=header, loaded=loaded, rejected=rejected, written=written)


def run_export(cube: Cube, definition: ExportDefinition) -> tuple[bytes, int]:
    """The whole module as CSV in the same layout as its import file, and its row count."""
    if definition.module == "committed_bookings":
        bookings = cube.booking_rows()
        rows = [(c.booking_code, c.entity, c.product, c.period, c.currency, c.amount) for c in bookings]
        return write_csv(BOOKINGS_COLUMNS, rows), len(rows)
    actuals = [(c.version, c.entity, c.period, c.account, c.product, c.currency, c.amount) for c in cube.actual_rows()]
    return write_csv(ACTUALS_COLUMNS, actuals), len(actuals)


def _detail(kind: str, text: str, count: int) -> dict[str, Any]:
    return {"type": kind, "localMessageText": text, "values": [str(count)], "occurrences": count}


def export_result(export_id: str, rows: int) -> dict[str, Any]:
    """The `result` of a completed export task."""
    return {
        "successful": True,
        "failureDumpAvailable": False,
        "objectId": export_id,
        "details": [_detail("exportRowCount", f"{rows} rows exported", rows)],
    }


def import_result(import_id: str, outcome: ImportOutcome) -> dict[str, Any]:
    """The `result` of a completed import task: `successful` only when no row failed."""
    if outcome.file_error is not None:
        error = {"type": "fileError", "localMessageText": outcome.file_error, "values": [], "occurrences": 1}
        return {"successful": False, "failureDumpAvailable": False, "objectId": import_id, "details": [error]}
    failed = len(outcome.rejected)
    total = outcome.loaded + failed
    return {
        "successful": failed == 0,
        "failureDumpAvailable": failed > 0,
        "objectId": import_id,
        "details": [
            _detail(
                "hierarchyRowsProcessed" if failed == 0 else "hierarchyRowsProcessedWithFailures",
                f"{outcome.loaded} of {total} rows successfully imported, {failed} rows failed",
                total,
            ),
            _detail("successRowCount", f"{outcome.loaded} rows successfully imported", outcome.loaded),
            _detail("failedCount", f"{failed} rows failed", failed),
            _detail("ignoredCount", "0 rows ignored", 0),
        ],
    }
