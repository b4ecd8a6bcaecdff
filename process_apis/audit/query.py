"""Reading the audit log across several entities' chains: filters and one cursor, oldest first.

Entries are ordered by (stream id, chain); stream ids are Redis server time at append, so the
merged order is the order decisions were recorded. The cursor is the key of the last entry a page
covered, `<stream id>/<chain>`. A page may hold fewer than `limit` entries while more may follow
(the scan of one request is bounded); follow `next_cursor` until it is null.
"""

from __future__ import annotations

import re

import msgspec

from servicekit.audit_chain import AuditEntry
from servicekit.audit_store import AuditStore

__all__ = ["AuditFilter", "page_of"]

_CURSOR = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})/([A-Z]{2}[0-9]{2})$")
#: Entries scanned per chain and request at most (filters may skip many).
SCAN_BUDGET = 5000

Key = tuple[int, int, str]


class AuditFilter(msgspec.Struct, kw_only=True, frozen=True):
    """Every given filter must hold: period (`YYYY-MM` of the entry's UTC time), actor (subject or client), action.

    The period is matched on the recorded (hashed) time, not on stream ids, so it is the evidence's own.
    """

    period: str | None = None
    actor: str | None = None
    action: str | None = None

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.period is None or entry.time.startswith(self.period))
            and (self.actor is None or self.actor in (entry.actor, entry.client))
            and (self.action is None or entry.action == self.action)
        )


def _key(stream_id: str, chain: str) -> Key:
    ms, _, n = stream_id.partition("-")
    return int(ms), int(n), chain


def parse_cursor(cursor: str) -> Key:
    match = _CURSOR.match(cursor)
    if match is None:
        raise ValueError(f"The cursor {cursor!r} is not one this API handed out; start again without it.")
    return int(match[1]), int(match[2]), match[3]


async def _scan(
    store: AuditStore, chain: str, where: AuditFilter, after: Key | None, limit: int
) -> tuple[list[tuple[Key, AuditEntry]], Key | None]:
    """Up to `limit` matching entries of `chain` after `after`, and the last key scanned (None: chain exhausted)."""
    low = "-"
    if after is not None:
        # After (id, chain'): this chain's entries with the same id come after it only when chain > chain'.
        ms, n, other = after
        low = f"{ms}-{n}" if chain > other else f"({ms}-{n}"
    found: list[tuple[Key, AuditEntry]] = []
    scanned = 0
    async for stream_id, entry in store.entries(chain, start=low, batch=min(500, max(limit, 50))):
        key = _key(stream_id, chain)
        scanned += 1
        if where.matches(entry):
            found.append((key, entry))
        if len(found) == limit or scanned == SCAN_BUDGET:
            return found, key
    return found, None


async def page_of(
    store: AuditStore, chains: list[str], where: AuditFilter, *, limit: int, cursor: str | None
) -> tuple[list[AuditEntry], str | None]:
    """The next `limit` entries of `chains` matching `where` after `cursor`, and the cursor after them."""
    after = parse_cursor(cursor) if cursor else None
    found: list[tuple[Key, AuditEntry]] = []
    frontiers: list[Key] = []
    for chain in chains:
        entries, frontier = await _scan(store, chain, where, after, limit)
        found += entries
        if frontier is not None:
            frontiers.append(frontier)
    horizon = min(frontiers) if frontiers else None
    ready = sorted((item for item in found if horizon is None or item[0] <= horizon), key=lambda item: item[0])
    taken = ready[:limit]
    if len(ready) > limit:
        last: Key | None = taken[-1][0]
    else:
        last = horizon
    next_cursor = f"{last[0]}-{last[1]}/{last[2]}" if last is not None else None
    return [entry for _, entry in taken], next_cursor
