"""The CRM change feeds: poll Salesforce by SystemModstamp watermark, publish canonical events.

Two feeds share one loop: approved opportunities (`crm.opportunity.approved.v1`, and
`crm.opportunity.amended.v1` when one already published changes its terms or leaves closed-won)
and changed accounts (`crm.account.changed.v1`). Each has its own watermark key, tagged `{crm}` like the
stream, so the events of one poll round and the watermark past the last of them commit in one
Redis MULTI/EXEC (also on Redis Cluster), guarded by WATCH on the watermark: a crash can neither
lose an event (watermark not moved without it) nor repeat one (event not written without the
watermark), and a second poller that raced us aborts its round. Event ids are deterministic
(record id + SystemModstamp), so consumers can dedupe anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
from redis.exceptions import RedisError, WatchError

from contracts import (
    ACCOUNT_CHANGED,
    AMENDABLE_FIELDS,
    OPPORTUNITY_AMENDED,
    OPPORTUNITY_APPROVED,
    CloudEvent,
    Opportunity,
    event_source,
    new_event,
)
from contracts.streams import CRM_EVENTS, stream_tag
from servicekit.context import new_correlation_id
from servicekit.metrics import feed_polled, redis_error
from servicekit.redis import RedisClient
from servicekit.streams import EVENT_FIELD, encode_event, producer_span, with_trace_context
from system_apis.crm.connector.mapping import REGION_ENTITY, sf_datetime
from system_apis.crm.connector.reader import ChangedAccount, ChangedOpportunity, CrmReader, Keyset
from system_apis.crm.errors import CrmError, SalesforceLimitExceeded

__all__ = [
    "ACCOUNT_WATERMARK_KEY",
    "APPROVED_WHERE",
    "EVENT_SOURCE",
    "PUBLISHED_KEY",
    "WATERMARK_KEY",
    "AccountFeed",
    "KeysetFeed",
    "OpportunityFeed",
    "account_event",
    "amended_event",
    "approved_event",
    "run_feeds",
    "terms_of",
]

log = logging.getLogger("system_apis.crm.feed")

WATERMARK_KEY: Final = "fig:feed:{crm}:opportunity"
ACCOUNT_WATERMARK_KEY: Final = "fig:feed:{crm}:account"
#: Opportunity id -> its terms (`terms_of`) as last published, written with the watermark.
PUBLISHED_KEY: Final = "fig:feed:{crm}:opportunity:published"
EVENT_SOURCE: Final = event_source("system-apis", "crm")
#: "Approved for quote-to-cash" (COMMON brief): won and approved.
APPROVED_WHERE: Final = "IsWon = true AND Approval_Status__c = 'Approved'"
#: What the opportunity feed reads: approvals, and whatever may be an approved deal leaving
#: closed-won (re-opened keeps its approval in Salesforce; lost is closed).
_FEED_WHERE: Final = "(IsWon = true OR IsClosed = true OR Approval_Status__c = 'Approved')"
_EVENT_NAMESPACE: Final = uuid.UUID("6f1c2d4e-8a7b-4c1d-9e2f-3a4b5c6d7e8f")


def _event(
    *, type_: str, sobject: str, record_id: str, position: Keyset, data: Any, region: str | None, kind: str = ""
) -> CloudEvent:
    key = f"salesforce:{sobject}:{record_id}:{sf_datetime(position.modstamp)}" + (f":{kind}" if kind else "")
    return new_event(
        source=EVENT_SOURCE,
        type=type_,
        data=msgspec.to_builtins(data),
        subject=record_id,
        correlation_id=new_correlation_id(),
        legal_entity=REGION_ENTITY.get(region or ""),
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, key)),
    )


def approved_event(change: ChangedOpportunity) -> CloudEvent:
    """`crm.opportunity.approved.v1` for one change; the id is fixed by opportunity id + modstamp.

    Data: the canonical Opportunity, plus `account` (the canonical Account as read in the same
    query) when the change carries it, so a consumer need not read the account back.
    """
    opportunity = change.opportunity
    data: Any = opportunity
    if change.account is not None:
        data = {**msgspec.to_builtins(opportunity), "account": msgspec.to_builtins(change.account)}
    return _event(type_=OPPORTUNITY_APPROVED, sobject="Opportunity", record_id=opportunity.id,
                  position=change.position, data=data, region=opportunity.region)  # fmt: skip


def terms_of(opportunity: Opportunity) -> dict[str, Any]:
    """The amendable fields (`contracts.AMENDABLE_FIELDS`) of an opportunity, as JSON-ready values."""
    return {
        "amount": str(opportunity.amount.amount),
        "currency": opportunity.amount.currency,
        "lines": msgspec.to_builtins(opportunity.lines),
        "close_date": opportunity.close_date.isoformat(),
        "account_id": opportunity.account_id,
        "stage": opportunity.stage,
        "approval_status": opportunity.approval_status,
    }


def amended_event(change: ChangedOpportunity, previous: dict[str, Any]) -> CloudEvent | None:
    """`crm.opportunity.amended.v1` when the terms differ from `previous` (as last published), else None.

    Data: what `approved_event` carries, plus `changed` (field names) and `previous` (their old values).
    """
    now = terms_of(change.opportunity)
    changed = [field for field in AMENDABLE_FIELDS if previous.get(field) != now[field]]
    if not changed:
        return None
    opportunity = change.opportunity
    data: dict[str, Any] = msgspec.to_builtins(opportunity)
    if change.account is not None:
        data["account"] = msgspec.to_builtins(change.account)
    data["changed"] = changed
    data["previous"] = {field: previous.get(field) for field in changed}
    return _event(type_=OPPORTUNITY_AMENDED, sobject="Opportunity", record_id=opportunity.id,
                  position=change.position, data=data, region=opportunity.region, kind="amended")  # fmt: skip


def account_event(change: ChangedAccount) -> CloudEvent:
    """`crm.account.changed.v1` (data = canonical Account); the id is fixed by account id + modstamp."""
    account = change.account
    return _event(type_=ACCOUNT_CHANGED, sobject="Account", record_id=account.id, position=change.position,
                  data=account, region=account.region)  # fmt: skip


def _encode(position: Keyset) -> bytes:
    return f"{position.modstamp.isoformat()}|{position.record_id}".encode()


def _bytes(raw: bytes | str | None) -> bytes | None:
    return raw.encode() if isinstance(raw, str) else raw


def _decode(raw: bytes) -> Keyset:
    stamp, _, record_id = raw.decode().partition("|")
    return Keyset(datetime.fromisoformat(stamp), record_id)


class KeysetFeed(ABC):
    """Publishes one event per change after the stored watermark, event and watermark in one MULTI/EXEC."""

    name: str = "feed"
    default_watermark_key: str = ""

    def __init__(
        self,
        reader: CrmReader,
        redis: RedisClient,
        *,
        start: datetime,
        stream: str = CRM_EVENTS,
        watermark_key: str | None = None,
        batch: int = 200,
        maxlen: int = 1_000_000,
        interval: float | None = None,
    ) -> None:
        watermark_key = watermark_key or self.default_watermark_key
        if not watermark_key or stream_tag(watermark_key) != stream_tag(stream):
            # Keys of one MULTI/EXEC must share a hash slot on Redis Cluster.
            raise ValueError(f"watermark {watermark_key!r} must carry the hash tag of stream {stream!r}")
        self.reader = reader
        self.redis = redis
        self.start = Keyset(start)
        self.stream = stream
        self.watermark_key = watermark_key
        self.batch = batch
        self.maxlen = maxlen
        #: Seconds between polls of this feed; None: the interval `run_feeds` is given.
        self.interval = interval

    #: Whether the last round read a full batch (more changes are waiting).
    backlog: bool = False

    @abstractmethod
    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent | None, Keyset]]:
        """Up to `limit` (event, position) pairs after `after`, in position order; a change that
        publishes nothing has the event None (the watermark still moves past it)."""

    def queue_writes(self, pipe: Any, events: Sequence[CloudEvent]) -> None:  # noqa: B027 - optional hook
        """Further writes of a round, queued in its MULTI/EXEC (keys with the stream's hash tag)."""

    async def watermark(self) -> Keyset:
        raw = _bytes(await self.redis.get(self.watermark_key))
        return _decode(raw) if raw else self.start

    async def poll_once(self) -> int:
        """One round: publish every change after the watermark (up to `batch`); returns the events published.

        The round's events and the watermark past the last of them commit in one MULTI/EXEC (one
        round trip however many changes), so a round publishes all of its changes or none.
        """
        expected = _bytes(await self.redis.get(self.watermark_key))
        after = _decode(expected) if expected else self.start
        changes = await self.changes(after, self.batch)
        self.backlog = len(changes) >= self.batch
        if not changes:
            return 0
        events = [event for event, _ in changes if event is not None]
        if not await self._commit(events, expected, _encode(changes[-1][1])):
            log.info("feed watermark moved by another poller; round aborted", extra={"key": self.watermark_key})
            self.backlog = False
            return 0
        return len(events)

    async def _commit(self, events: Sequence[CloudEvent], expected: bytes | None, position: bytes) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.watermark_key)
                if _bytes(await pipe.get(self.watermark_key)) != expected:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves multi() unannotated
                with producer_span(self.stream, len(events)):
                    for event in events:
                        traced = encode_event(with_trace_context(event))
                        pipe.xadd(self.stream, {EVENT_FIELD: traced}, maxlen=self.maxlen, approximate=True)
                    self.queue_writes(pipe, events)
                    pipe.set(self.watermark_key, position)
                    await pipe.execute()
            except WatchError:
                return False
        return True

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll this feed alone every `interval` seconds until `stop` is set."""
        await run_feeds([self], interval, stop)


class OpportunityFeed(KeysetFeed):
    """Approved opportunities (won and Approval_Status__c Approved) as `crm.opportunity.approved.v1`;
    a change of one already published as `crm.opportunity.amended.v1`.

    The terms last published per opportunity (`PUBLISHED_KEY`) are written in the round's
    MULTI/EXEC, so they are exactly what the stream says; they are read before the round, and the
    WATCH on the watermark aborts a round another poller overtook. A change of a published deal
    that touches none of its terms publishes nothing.
    """

    name = "opportunity"
    default_watermark_key = WATERMARK_KEY

    def __init__(self, *args: Any, published_key: str = PUBLISHED_KEY, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if stream_tag(published_key) != stream_tag(self.stream):
            raise ValueError(f"published terms {published_key!r} must carry the hash tag of stream {self.stream!r}")
        self.published_key = published_key

    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent | None, Keyset]]:
        found = await self.reader.changed_opportunities(after, limit, where=_FEED_WHERE, with_account=True)
        if not found:
            return []
        raw: list[bytes | str | None] = await self.redis.hmget(self.published_key, [c.opportunity.id for c in found])
        pairs: list[tuple[CloudEvent | None, Keyset]] = []
        for change, stored in zip(found, raw, strict=True):
            event: CloudEvent | None = None
            if stored is not None:
                event = amended_event(change, msgspec.json.decode(_bytes(stored) or b"{}"))
            elif is_approval(change.opportunity):
                event = approved_event(change)
            pairs.append((event, change.position))
        return pairs

    def queue_writes(self, pipe: Any, events: Sequence[CloudEvent]) -> None:
        published = {
            event.subject or "": msgspec.json.encode(terms_of(msgspec.convert(event.data, Opportunity, strict=False)))
            for event in events
        }
        if published:
            pipe.hset(self.published_key, mapping=published)


def is_approval(opportunity: Opportunity) -> bool:
    """Won and approved: what `APPROVED_WHERE` selects."""
    return opportunity.is_won and opportunity.approval_status == "approved"


class AccountFeed(KeysetFeed):
    """Every account change (any field, SystemModstamp) as `crm.account.changed.v1`."""

    name = "account"
    default_watermark_key = ACCOUNT_WATERMARK_KEY

    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent | None, Keyset]]:
        return [(account_event(c), c.position) for c in await self.reader.changed_accounts(after, limit)]


async def run_feeds(feeds: Sequence[KeysetFeed], interval: float, stop: asyncio.Event) -> None:
    """Poll each feed every `feed.interval` seconds (default `interval`) until `stop` is set.

    A feed with a backlog (a full batch) is polled again at once; failures are logged, never fatal;
    REQUEST_LIMIT_EXCEEDED pauses every feed for 20 intervals (at least a minute).
    """
    loop = asyncio.get_running_loop()
    due = [loop.time()] * len(feeds)
    while not stop.is_set():
        now = loop.time()
        for index, feed in enumerate(feeds):
            if due[index] > now:
                continue
            due[index] = now + (feed.interval or interval)
            try:
                count = await feed.poll_once()
                feed_polled(f"crm:{feed.name}")
                if feed.backlog:
                    due[index] = now  # a backlog: keep draining
                if count:
                    log.info("published changes", extra={"feed": feed.name, "count": count, "stream": feed.stream})
            except SalesforceLimitExceeded as exc:
                # Retrying burns what little allocation is left; wait much longer before the next try.
                log.error("change feeds paused: Salesforce API allocation exhausted", extra={"detail": exc.message})
                resume = now + max(interval * 20, 60.0)
                due = [max(d, resume) for d in due]
                break
            except (CrmError, RedisError) as exc:
                if isinstance(exc, RedisError):
                    redis_error("crm-feed")
                log.warning("change feed poll failed", extra={"feed": feed.name, "error": str(exc)})
        delay = min(due) - loop.time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(delay, 0.001))
