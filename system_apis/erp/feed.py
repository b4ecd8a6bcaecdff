"""The ERP change feed: booked sales orders become `erp.sales_order.booked.v1` events, exactly once.

NetSuite has no outbound event stream, so the feed polls SuiteQL for sales orders modified since
a watermark, ordered by `lastmodifieddate, id` (a unique order, so paging is stable). Each page's
events (XADD to `fig:events:{erp}`), the ids it published and the new watermark are written in one
MULTI/EXEC under WATCH of the watermark: a crash either commits all of it or none, and two pollers
(two instances of this service) cannot both publish the same page.

The watermark is `<lastmodifieddate>|<id>` of the last row consumed. The query asks for rows at
or after its time and skips those at or before it in `(time, id)` order, so rows sharing a
timestamp are neither lost nor repeated. Rows younger than `lag` seconds wait for the next poll,
so a write that commits in the watermark's own instant cannot be skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import msgspec
from redis.exceptions import RedisError, WatchError

from contracts import SALES_ORDER_BOOKED, CloudEvent, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, new_correlation_id
from servicekit.streams import EVENT_FIELD, encode_event
from system_apis.erp.connector import SuiteQLPage
from system_apis.erp.connector.mapping import SUBSIDIARY_ENTITIES, currency_code, is_booked, money, parse_time
from system_apis.erp.errors import ErpError

__all__ = ["ERP_STREAM", "PUBLISHED_KEY", "WATERMARK_KEY", "SalesOrderFeed", "SuiteQLSource", "Watermark"]

log = logging.getLogger("system_apis.erp.feed")

ERP_STREAM = ERP_EVENTS
WATERMARK_KEY = "fig:feed:{erp}:salesOrder"
#: Ids already announced as booked: a later change (B → billed) does not announce them again.
PUBLISHED_KEY = "fig:feed:{erp}:salesOrder:booked"
SOURCE = "/system-apis/erp/netsuite"
_QUERY = (
    "SELECT id, externalid, subsidiary, currency, status, foreigntotal, lastmodifieddate FROM transaction "
    "WHERE type = 'SalesOrd' AND lastmodifieddate >= TO_TIMESTAMP('{since}', 'YYYY-MM-DD\"T\"HH24:MI:SS.FF3TZH:TZM') "
    "ORDER BY lastmodifieddate, id"
)


def _row_json(row: dict[str, Any]) -> bytes:
    return msgspec.json.encode({k: str(v) if v is not None else None for k, v in row.items() if k != "links"})


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Watermark:
    """`(time, id)` of the last consumed row; rows compare greater by time, then by numeric id."""

    def __init__(self, time: datetime, record_id: int) -> None:
        self.time = time
        self.record_id = record_id

    def key(self) -> tuple[datetime, int]:
        return self.time, self.record_id

    def encode(self) -> str:
        return f"{_iso(self.time)}|{self.record_id}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Watermark:
        text = raw.decode() if isinstance(raw, bytes) else raw
        stamp, _, record_id = text.partition("|")
        return cls(datetime.fromisoformat(stamp), int(record_id or 0))


def _settled_rows(
    items: list[dict[str, Any]], mark: Watermark, cutoff: datetime
) -> tuple[list[tuple[Watermark, dict[str, Any]]], bool]:
    """Rows after `mark` in (time, id) order, up to the first one younger than `cutoff`.

    The flag is False when such a young row stopped the scan (the rest waits for the next poll).
    """
    rows: list[tuple[Watermark, dict[str, Any]]] = []
    for row in items:
        stamp = parse_time(row.get("lastmodifieddate"))
        if stamp is None:
            continue
        position = Watermark(stamp, int(row["id"]))
        if position.key() <= mark.key():
            continue
        if stamp > cutoff:
            return rows, False
        rows.append((position, row))
    return rows, True


class SuiteQLSource(Protocol):
    """What the feed needs from NetSuite: one SuiteQL page (NetSuiteClient; fakes in tests)."""

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage: ...


class SalesOrderFeed:
    """Polls NetSuite and publishes booked orders; `poll_once` is one pass, `run` loops."""

    def __init__(
        self,
        netsuite: SuiteQLSource,
        redis: RedisClient,
        *,
        initial_since: datetime,
        lag: float = 1.0,
        page_size: int = 200,
        stream: str = ERP_STREAM,
        watermark_key: str = WATERMARK_KEY,
        published_key: str = PUBLISHED_KEY,
        maxlen: int = 1_000_000,
    ) -> None:
        self.netsuite = netsuite
        self.redis = redis
        self.initial = Watermark(initial_since, 0)
        self.lag = timedelta(seconds=lag)
        self.page_size = page_size
        self.stream = stream
        self.watermark_key = watermark_key
        self.published_key = published_key
        self.maxlen = maxlen

    async def poll_once(self) -> int:
        """Consume every settled change since the watermark; returns how many events it published."""
        published = 0
        offset = 0
        while True:
            try:
                count, consumed, more = await self._page(offset)
            except WatchError:
                log.info("another poller moved the ERP watermark; leaving this round to it")
                return published
            published += count
            if not more:
                return published
            # Keyset paging from the moved watermark; only a page wholly at or before the mark
            # (many rows sharing one timestamp) needs the offset to make progress.
            offset = 0 if consumed else offset + self.page_size

    async def _page(self, offset: int) -> tuple[int, bool, bool]:
        """One page: (events published, whether the watermark moved, whether to read on)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.watch(self.watermark_key)
            raw = await pipe.get(self.watermark_key)
            mark = Watermark.decode(raw) if raw else self.initial
            page = await self.netsuite.suiteql(
                _QUERY.format(since=_iso(mark.time)), limit=self.page_size, offset=offset
            )
            rows, settled = _settled_rows(page.items, mark, datetime.now(UTC) - self.lag)
            if not rows:
                if raw is None:
                    # Pin the initial watermark, so a restart does not move the start forward.
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.set(self.watermark_key, mark.encode())
                    await pipe.execute()
                return 0, False, page.has_more and settled and bool(page.items)
            booked = [row for _, row in rows if is_booked(str(row.get("status")))]
            ids = [str(row["id"]) for row in booked]
            seen = await pipe.smismember(self.published_key, ids) if ids else []
            events, dead = self._announcements(
                [row for row, was_seen in zip(booked, seen, strict=True) if not was_seen]
            )
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            for event in events:
                pipe.xadd(self.stream, {EVENT_FIELD: encode_event(event)}, maxlen=self.maxlen, approximate=True)
            for row, reason in dead:
                pipe.xadd(f"{self.stream}:dead", {b"row": _row_json(row), b"reason": reason.encode()})
            if events or dead:
                pipe.sadd(
                    self.published_key, *(e.subject for e in events if e.subject), *(str(r["id"]) for r, _ in dead)
                )
            pipe.set(self.watermark_key, rows[-1][0].encode())
            await pipe.execute()
        for event in events:
            log.info("sales order booked", extra={"event_id": event.id, "sales_order_id": event.subject})
        for row, reason in dead:
            log.error("booked sales order dead-lettered", extra={"sales_order_id": row.get("id"), "reason": reason})
        return len(events), True, page.has_more and settled

    def _announcements(self, rows: list[dict[str, Any]]) -> tuple[list[CloudEvent], list[tuple[dict[str, Any], str]]]:
        """Events for `rows`, and the rows that cannot be mapped with the reason.

        An unmappable row (e.g. an unknown currency) must not block every later booking: it goes
        to the dead-letter stream, where operators see and replay it.
        """
        events: list[CloudEvent] = []
        dead: list[tuple[dict[str, Any], str]] = []
        for row in rows:
            try:
                events.append(self._event(row))
            except ErpError as exc:
                dead.append((row, exc.detail))
        return events, dead

    @staticmethod
    def _event(row: dict[str, Any]) -> CloudEvent:
        order_id = str(row["id"])
        subsidiary = str(row.get("subsidiary"))
        currency = currency_code(row.get("currency"))
        total = money(row.get("foreigntotal", "0"), currency)
        return new_event(
            source=SOURCE,
            type=SALES_ORDER_BOOKED,
            subject=order_id,
            event_id=f"erp-so-booked-{order_id}",
            correlation_id=new_correlation_id(),
            legal_entity=SUBSIDIARY_ENTITIES.get(subsidiary),
            data={
                "sales_order_id": order_id,
                "external_id": row.get("externalid"),
                "subsidiary_id": subsidiary,
                "status_code": str(row.get("status")),
                "total": {"amount": str(total.amount), "currency": total.currency},
            },
        )

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Poll every `interval` seconds until `stop` is set; failures are logged and retried next round."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except (ErpError, RedisError) as exc:
                log.warning("ERP change feed poll failed: %s", exc)
            except Exception:
                log.exception("ERP change feed poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
