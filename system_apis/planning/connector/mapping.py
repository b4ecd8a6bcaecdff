"""Canonical <-> Anaplan file layouts: the committed-bookings CSV, its export and failure dumps."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import msgspec

from contracts import CommittedBooking, RejectedRow
from system_apis.planning.errors import PlanningProtocolError

__all__ = [
    "BOOKINGS_HEADER",
    "bookings_csv",
    "format_amount",
    "parse_bookings_export",
    "parse_dump",
    "result_counts",
    "split_chunks",
]

#: Column layout of the committed-bookings import file (the import definition maps these names).
BOOKINGS_HEADER = ("Booking Code", "Entity", "Product", "Period", "Currency", "Amount")


def format_amount(amount: Decimal) -> str:
    """Fixed-point text of a Decimal, exactly as given: no exponent, no rounding, scale kept."""
    return format(amount, "f")


def _csv(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def bookings_csv(bookings: Sequence[CommittedBooking]) -> bytes:
    """The import file: header on line 1, booking i (0-based) on line i + 2."""
    rows = [
        (b.booking_code, b.legal_entity, b.product_code, b.period, b.amount.currency, format_amount(b.amount.amount))
        for b in bookings
    ]
    return _csv([BOOKINGS_HEADER, *rows])


def _rows(content: bytes) -> list[list[str]]:
    try:
        return [r for r in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PlanningProtocolError(f"unreadable CSV from Anaplan: {exc}") from exc


def parse_bookings_export(content: bytes) -> list[CommittedBooking]:
    """Committed-bookings export rows as canonical bookings; a changed layout is a protocol error."""
    rows = _rows(content)
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]
    if header != [h.lower() for h in BOOKINGS_HEADER]:
        raise PlanningProtocolError(f"the committed-bookings export has columns {rows[0]}, expected {BOOKINGS_HEADER}")
    found = []
    for row in rows[1:]:
        code, entity, product, period, currency, amount = (v.strip() for v in row)
        try:
            found.append(
                msgspec.convert(
                    {
                        "booking_code": code,
                        "legal_entity": entity,
                        "period": period,
                        "product_code": product,
                        "amount": {"amount": amount, "currency": currency},
                    },
                    type=CommittedBooking,
                )
            )
        except msgspec.ValidationError as exc:
            raise PlanningProtocolError(f"unreadable committed-bookings export row {row}: {exc}") from exc
    return found


def parse_dump(content: bytes) -> list[RejectedRow]:
    """Failure-dump rows (`_Line_`, `_Error_1_`, values...) as RejectedRows.

    `row` is the 1-based position of the booking in the load (file line minus the header line).
    """
    rows = _rows(content)
    if not rows:
        return []
    header = rows[0]
    try:
        line_at, error_at = header.index("_Line_"), header.index("_Error_1_")
    except ValueError:
        raise PlanningProtocolError(f"the failure dump has no _Line_/_Error_1_ columns: {header}") from None
    rejected = []
    for row in rows[1:]:
        try:
            line = int(row[line_at])
        except (ValueError, IndexError):
            raise PlanningProtocolError(f"failure dump row without a line number: {row}") from None
        values = [v for i, v in enumerate(row) if i not in (line_at, error_at)]
        rejected.append(RejectedRow(row=line - 1, reason=row[error_at], values=values))
    return rejected


def result_counts(result: dict[str, Any]) -> tuple[int, int]:
    """(rows loaded, rows failed) from an import task result's `details`."""
    counts = {"successRowCount": 0, "failedCount": 0}
    details = result.get("details")
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("type") in counts:
            occurrences = detail.get("occurrences")
            if isinstance(occurrences, int):
                counts[str(detail["type"])] = occurrences
    return counts["successRowCount"], counts["failedCount"]


def split_chunks(content: bytes, size: int) -> list[bytes]:
    """`content` in pieces of at most `size` bytes (one empty chunk for empty content)."""
    size = max(1, size)
    return [content[i : i + size] for i in range(0, len(content), size)] or [b""]
