"""Exceptions in Redis, next to the run they belong to.

    fig:exc:{<run id>}:<n>    the run's n-th exception (JSON ExceptionRecord, history inside)
    fig:exc:index             sorted set of every exception id by creation time (list order)

An exception key carries its run's hash tag, so the run's fenced commit (workflows/store.py) writes
the run and its exception in one script on one slot: a failed gate and its exception appear
together or not at all. The index is another slot and is fed through the run's outbox (at least
once; ZADD is idempotent). Actions by people (assign, resolve, dead-letter) are written under the
run's lease too, so they never race the engine.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import msgspec

from process_apis.exceptions.model import ExceptionPage, ExceptionRecord, parse_exception_id
from servicekit.redis import get_many

__all__ = ["EXCEPTION_INDEX", "ExceptionFilter", "ExceptionStore", "exception_key"]

EXCEPTION_INDEX = "fig:exc:index"
_decoder = msgspec.json.Decoder(ExceptionRecord)
_SCAN_BATCH = 500


def exception_key(run_id: str, seq: int) -> str:
    return f"fig:exc:{{{run_id}}}:{seq}"


def _key_of(exc_id: str) -> str | None:
    parsed = parse_exception_id(exc_id)
    return exception_key(*parsed) if parsed else None


class ExceptionFilter(msgspec.Struct, kw_only=True, frozen=True):
    """List filters; None matches anything.

    `legal_entities`: the caller's entities (None: every one); `unassigned`: whether exceptions of
    no known entity are shown too (process_apis/entities.py).
    """

    status: str | None = None
    owner_team: str | None = None
    legal_entity: str | None = None
    workflow: str | None = None
    severity: str | None = None
    #: True: only escalated exceptions (past their SLA); False: only those not escalated.
    escalated: bool | None = None
    legal_entities: frozenset[str] | None = None
    unassigned: bool = True

    def matches(self, record: ExceptionRecord) -> bool:
        entity = record.legal_entity
        return (
            (self.legal_entities is None or (entity in self.legal_entities if entity is not None else self.unassigned))
            and (self.status is None or record.status == self.status)
            and (self.owner_team is None or record.owner_team == self.owner_team)
            and (self.legal_entity is None or record.legal_entity == self.legal_entity)
            and (self.workflow is None or record.workflow == self.workflow)
            and (self.severity is None or record.severity == self.severity)
            and (self.escalated is None or (record.escalated_at is not None) == self.escalated)
        )


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        position = int(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this API issued") from None
    if position < 0:
        raise ValueError("cursor is not one this API issued")
    return position


class ExceptionStore:
    """Reads exceptions (one, or filtered pages in creation order)."""

    def __init__(self, redis: Any) -> None:
        self.redis: Any = redis

    async def get(self, exc_id: str) -> ExceptionRecord | None:
        key = _key_of(exc_id)
        if key is None:
            return None
        raw = await self.redis.get(key)
        return _decoder.decode(raw) if raw is not None else None

    async def page(self, where: ExceptionFilter, *, limit: int, cursor: str | None = None) -> ExceptionPage:
        """Up to `limit` matches after `cursor`, oldest first; ValueError for a foreign cursor.

        Filters are applied while scanning the index in batches (exceptions are few next to runs;
        a per-status index is the next step if the queue ever grows large).
        """
        position = _decode_cursor(cursor) if cursor else 0
        found: list[ExceptionRecord] = []
        while len(found) < limit:
            ids = await self.redis.zrange(EXCEPTION_INDEX, position, position + _SCAN_BATCH - 1)
            if not ids:
                return ExceptionPage(items=found)
            keys = [_key_of(i.decode() if isinstance(i, bytes) else str(i)) or "fig:exc:{none}:0" for i in ids]
            raws = await get_many(self.redis, keys)
            for offset, raw in enumerate(raws):
                if raw is None:
                    continue
                record = _decoder.decode(raw)
                if where.matches(record):
                    found.append(record)
                    if len(found) == limit:
                        return ExceptionPage(items=found, next_cursor=_encode_cursor(position + offset + 1))
            position += len(ids)
        return ExceptionPage(items=found, next_cursor=_encode_cursor(position))

    async def all(self, keep: Callable[[ExceptionRecord], bool] = lambda _: True) -> list[ExceptionRecord]:
        """Every exception in the index that `keep` accepts (ops metrics)."""
        out: list[ExceptionRecord] = []
        cursor: str | None = None
        while True:
            page = await self.page(ExceptionFilter(), limit=_SCAN_BATCH, cursor=cursor)
            out.extend(r for r in page.items if keep(r))
            if page.next_cursor is None or len(page.items) < _SCAN_BATCH:
                return out
            cursor = page.next_cursor
