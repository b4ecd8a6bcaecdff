"""Exactly-once polling of one SuiteQL table into Redis Streams: the machinery every ERP feed shares.

NetSuite has no outbound event stream, so a feed polls SuiteQL for rows modified since a
watermark, ordered by `lastmodifieddate, id` (a unique order, so paging is stable). Each page's
events (XADD to `fig:events:{erp}`), the ids it announced and the new watermark are written in one
MULTI/EXEC under WATCH of the watermark: a crash either commits all of it or none, and two pollers
(two instances of this service) cannot both publish the same page. All keys carry the `{erp}` hash
tag, so the transaction also runs on Redis Cluster.

The watermark is `<lastmodifieddate>|<id>` of the last row consumed. The query asks for rows at
or after its time and skips those at or before it in `(time, id)` order, so rows sharing a
timestamp are neither lost nor repeated. Rows younger than `lag` seconds wait for the next poll,
so a write that commits in the watermark's own instant cannot be skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

import msgspec
from redis.exceptions import RedisError, WatchError

from contracts import CloudEvent
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient
from servicekit.metrics import feed_polled, redis_error
from servicekit.streams import EVENT_FIELD, encode_event, producer_span, with_trace_context
from system_apis.erp.connector import SuiteQLPage
from system_apis.erp.connector.mapping import parse_time
from system_apis.erp.errors import ErpError

__all__ = ["ChangeFeed", "SuiteQLSource", "Watermark", "iso", "run_feeds"]

log = logging.getLogger("system_apis.erp.feed")
Row = dict[str, Any]


def _row_json(row: Row) -> bytes:
    return msgspec.json.encode({k: str(v) if v is not None else None for k, v in row.items() if k != "links"})


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Watermark:
    """`(time, id)` of the last consumed row; rows compare greater by time, then by numeric id."""

    def __init__(self, time: datetime, record_id: int) -> None:
        self.time = time
        self.record_id = record_id

    def key(self) -> tuple[datetime, int]:
        return self.time, self.record_id

    def encode(self) -> str:
        return f"{iso(self.time)}|{self.record_id}"

    @classmethod
    def decode(cls, raw: bytes | str) -> Watermark:
        text = raw.decode() if isinstance(raw, bytes) else raw
        stamp, _, record_id = text.partition("|")
        return cls(datetime.fromisoformat(stamp), int(record_id or 0))


def _settled_rows(items: list[Row], mark: Watermark, cutoff: datetime) -> tuple[list[tuple[Watermark, Row]], bool]:
    """Rows after `mark` in (time, id) order, up to the first one younger than `cutoff`.

    The flag is False when such a young row stopped the scan (the rest waits for the next poll).
    """
    rows: list[tuple[Watermark, Row]] = []
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
    """What a feed needs from NetSuite: one SuiteQL page (NetSuiteClient; fakes in tests)."""

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage: ...


class ChangeFeed:
    """Polls one table and publishes an event per announced row; `poll_once` is one pass, `run` loops.

    Subclasses set `query` (with a `{since}` placeholder, ordered by `lastmodifieddate, id`, and
    optionally an `{until}` one: the settle cutoff, so NetSuite leaves out rows too young to consume),
    `kind` (for logs) and the default keys, and implement `wanted` and `event`. With a
    `published_key`, each id is announced at most once ever (a booking is booked once); without,
    every change of a row is announced once (the watermark alone guarantees that).
    """

    query: ClassVar[str]
    kind: ClassVar[str]
    default_watermark_key: ClassVar[str]
    default_published_key: ClassVar[str | None] = None

    def __init__(
        self,
        netsuite: SuiteQLSource,
        redis: RedisClient,
        *,
        initial_since: datetime,
        lag: float = 1.0,
        page_size: int = 200,
        stream: str = ERP_EVENTS,
        watermark_key: str | None = None,
        published_key: str | None = None,
        maxlen: int = 1_000_000,
    ) -> None:
        self.netsuite = netsuite
        self.redis = redis
        self.initial = Watermark(initial_since, 0)
        self.lag = timedelta(seconds=lag)
        self.page_size = page_size
        self.stream = stream
        self.watermark_key = watermark_key or self.default_watermark_key
        self.published_key = published_key or self.default_published_key
        self.maxlen = maxlen

    def wanted(self, row: Row) -> bool:
        """Whether this changed row is something to announce (e.g. the order is booked)."""
        raise NotImplementedError

    def event(self, row: Row) -> CloudEvent:
        """The event announcing `row`; raise ErpError when the row cannot be mapped (dead-lettered)."""
        raise NotImplementedError

    async def poll_once(self) -> int:
        """Consume every settled change since the watermark; returns how many events it published."""
        published = 0
        offset = 0
        while True:
            try:
                count, consumed, more = await self._page(offset)
            except WatchError:
                log.info("another poller moved the ERP %s watermark; leaving this round to it", self.kind)
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
            cutoff = datetime.now(UTC) - self.lag
            page = await self.netsuite.suiteql(
                self.query.format(since=iso(mark.time), until=iso(cutoff)), limit=self.page_size, offset=offset
            )
            rows, settled = _settled_rows(page.items, mark, cutoff)
            if not rows:
                if raw is None:
                    # Pin the initial watermark, so a restart does not move the start forward.
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    pipe.set(self.watermark_key, mark.encode())
                    await pipe.execute()
                return 0, False, page.has_more and settled and bool(page.items)
            fresh = [row for _, row in rows if self.wanted(row)]
            if self.published_key and fresh:
                seen = await pipe.smismember(self.published_key, [str(row["id"]) for row in fresh])
                fresh = [row for row, was_seen in zip(fresh, seen, strict=True) if not was_seen]
            events, dead = self._announcements(fresh)
            pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
            with producer_span(self.stream, len(events)):
                for event in events:
                    traced = encode_event(with_trace_context(event))
                    pipe.xadd(self.stream, {EVENT_FIELD: traced}, maxlen=self.maxlen, approximate=True)
                for row, reason in dead:
                    pipe.xadd(f"{self.stream}:dead", {b"row": _row_json(row), b"reason": reason.encode()})
                if self.published_key and (events or dead):
                    pipe.sadd(self.published_key, *(str(row["id"]) for row in fresh))
                pipe.set(self.watermark_key, rows[-1][0].encode())
                await pipe.execute()
        for event in events:
            log.info("ERP %s published", self.kind, extra={"event_id": event.id, "subject": event.subject})
        for row, reason in dead:
            log.error("ERP %s dead-lettered", self.kind, extra={"record_id": row.get("id"), "reason": reason})
        return len(events), True, page.has_more and settled

    def _announcements(self, rows: list[Row]) -> tuple[list[CloudEvent], list[tuple[Row, str]]]:
        """Events for `rows`, and the rows that cannot be mapped with the reason.

        An unmappable row (e.g. an unknown currency) must not block every later change: it goes
        to the dead-letter stream, where operators see and replay it.
        """
        events: list[CloudEvent] = []
        dead: list[tuple[Row, str]] = []
        for row in rows:
            try:
                events.append(self.event(row))
            except ErpError as exc:
                dead.append((row, exc.detail))
        return events, dead

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Poll every `interval` seconds until `stop` is set (see `run_feeds`)."""
        await run_feeds([self], stop, interval)


async def run_feeds(feeds: Sequence[ChangeFeed], stop: asyncio.Event, interval: float) -> None:
    """Poll each feed in turn every `interval` seconds until `stop` is set; failures are logged and
    retried next round, and one failing feed does not hold up the others."""
    while not stop.is_set():
        for feed in feeds:
            try:
                await feed.poll_once()
                feed_polled(f"erp:{feed.kind}")
            except asyncio.CancelledError:
                raise
            except (ErpError, RedisError) as exc:
                if isinstance(exc, RedisError):
                    redis_error("erp-feed")
                log.warning("ERP %s feed poll failed: %s", feed.kind, exc)
            except Exception:
                log.exception("ERP %s feed poll failed", feed.kind)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
