"""CSV in and out of the sandbox: import sources, export files and failure dumps.

Anaplan files are UTF-8, comma-separated, `"`-quoted, header on line 1 and data from line 2
(the seeded file definitions say so). Dumps repeat each rejected row after `_Line_` (its line in
the source file) and `_Error_1_` (why it was rejected).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

__all__ = ["DUMP_PREFIX", "SourceRow", "read_source", "write_csv", "write_dump"]

DUMP_PREFIX = ("_Line_", "_Error_1_")


class SourceRow:
    """One data row of an uploaded file with its 1-based line number in that file."""

    __slots__ = ("line", "values")

    def __init__(self, line: int, values: list[str]) -> None:
        self.line = line
        self.values = values


def read_source(content: bytes) -> tuple[list[str], list[SourceRow]]:
    """Split an uploaded file into its header and data rows; blank lines are skipped.

    Raises UnicodeDecodeError for a file that is not UTF-8 and csv.Error for broken quoting.
    """
    text = content.decode("utf-8-sig")
    header: list[str] = []
    rows: list[SourceRow] = []
    # Lines count CSV records, not physical lines, so a quoted newline cannot shift row numbers.
    for line, values in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        if line == 1:
            header = [v.strip() for v in values]
        elif any(v.strip() for v in values):
            rows.append(SourceRow(line, values))
    return header, rows


def write_csv(header: Sequence[str], rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def write_dump(header: Sequence[str], rejected: Iterable[tuple[int, str, Sequence[str]]]) -> bytes:
    """The failure dump: `_Line_`, `_Error_1_`, then the rejected row's own values."""
    return write_csv((*DUMP_PREFIX, *header), ((str(line), reason, *values) for line, reason, values in rejected))
