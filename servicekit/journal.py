"""Persistence as a snapshot plus an append-only journal of the mutations since that snapshot.

Each mutation appends one JSON line with a single unbuffered `os.write`, so an acknowledged write
survives the process being killed (the page cache holds it); there is no fsync per write, so a
machine crash may lose the journal's tail. A compaction writes a fresh snapshot (temp file, fsync,
rename) and starts an empty journal. The snapshot and the journal's first line carry the same
random `generation`: a journal whose header names another generation is already folded into the
snapshot (a crash between the rename and the truncation) and is not replayed.

Loading stops at the first line that does not end in a newline or does not decode, so a line torn
by a crash mid-write is ignored instead of failing the start.

(Used by the vendor sandboxes, whose state is a snapshot plus this journal.)
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["DEFAULT_MAX_BYTES", "Journal", "new_generation", "write_atomically"]

log = logging.getLogger(__name__)

#: Compact once the journal holds this many bytes (replay cost at start stays bounded).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def new_generation() -> int:
    """A fresh generation mark for a snapshot and its journal (random, so a reset cannot reuse one)."""
    return secrets.randbits(62) + 1


def write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: temp file in the same directory, fsync, rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Journal:
    """The journal file of one snapshot: `replay` what a previous process wrote, then `append`."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.size = 0
        self._fd: int | None = None

    def replay(self, generation: int, apply: Callable[[bytes], None]) -> int:
        """Call `apply` with each entry written for `generation`, in order; returns how many were applied.

        A missing journal, or one of another generation, holds nothing to replay. The first torn or
        undecodable line ends the replay (it and anything after it are logged and skipped).
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        lines = data.split(b"\n")
        # A complete journal ends in a newline, so the last piece is empty; anything else is torn.
        complete, torn = lines[:-1], lines[-1]
        if not complete or _generation(complete[0]) != generation:
            return 0
        applied = 0
        for n, line in enumerate(complete[1:], start=1):
            try:
                apply(line)
            except ValueError as exc:  # msgspec/json decode errors are ValueErrors
                log.warning(
                    "journal replay stopped at an undecodable line",
                    extra={"path": str(self.path), "line": n + 1, "error": str(exc)},
                )
                return applied
            applied += 1
        if torn:
            log.warning("journal ends in a torn line; ignored", extra={"path": str(self.path), "bytes": len(torn)})
        return applied

    def start(self, generation: int) -> None:
        """Truncate the journal and write its header; later `append`s belong to `generation`."""
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.size = 0
        self.append(json.dumps({"generation": generation}).encode())

    def append(self, line: bytes) -> None:
        """Append one entry (a JSON document without newlines) with one unbuffered write."""
        if self._fd is None:
            raise RuntimeError(f"journal {self.path} is not open")
        data = line + b"\n"
        written = os.write(self._fd, data)
        while written < len(data):  # only on a full disk or a signal; finish the line or raise
            written += os.write(self._fd, data[written:])
        self.size += len(data)

    @property
    def full(self) -> bool:
        return self.size > self.max_bytes

    def close(self, *, remove: bool = False) -> None:
        """Close the file; `remove` deletes it (after a compaction it holds nothing but its header)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove:
            self.path.unlink(missing_ok=True)


def _generation(header: bytes) -> int | None:
    try:
        value = json.loads(header)
    except ValueError:
        return None
    generation = value.get("generation") if isinstance(value, dict) else None
    return generation if isinstance(generation, int) else None
