"""The CRM change feeds: poll Salesforce by SystemModstamp watermark, publish canonical events.

Two feeds share one loop: approved opportunities (`crm.opportunity.approved.v1`) and changed
accounts (`crm.account.changed.v1`). Each has its own watermark key, tagged `{crm}` like the
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

from contracts import ACCOUNT_CHANGED, OPPORTUNITY_APPROVED, CloudEvent, event_source, new_event
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
    "WATERMARK_KEY",
    "AccountFeed",
    "KeysetFeed",
    "OpportunityFeed",
    "account_event",
    "approved_event",
    "run_feeds",
]

log = logging.getLogger("system_apis.crm.feed")

WATERMARK_KEY: Final = "fig:feed:{crm}:opportunity"
ACCOUNT_WATERMARK_KEY: Final = "fig:feed:{crm}:account"
EVENT_SOURCE: Final = event_source("system-apis", "crm")
#: "Approved for quote-to-cash" (COMMON brief): won and approved.
APPROVED_WHERE: Final = "IsWon = true AND Approval_Status__c = 'Approved'"
_EVENT_NAMESPACE: Final = uuid.UUID("6f1c2d4e-8a7b-4c1d-9e2f-3a4b5c6d7e8f")


def _event(*, type_: str, sobject: str, record_id: str, position: Keyset, data: Any, region: str | None) -> CloudEvent:
    key = f"salesforce:{sobject}:{record_id}:{sf_datetime(position.modstamp)}"
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

    @abstractmethod
    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent, Keyset]]:
        """Up to `limit` (event, position) pairs after `after`, in position order."""

    async def watermark(self) -> Keyset:
        raw = _bytes(await self.redis.get(self.watermark_key))
        return _decode(raw) if raw else self.start

    async def poll_once(self) -> int:
        """One round: publish every change after the watermark (up to `batch`); returns the count.

        The round's events and the watermark past the last of them commit in one MULTI/EXEC (one
        round trip however many changes), so a round publishes all of its changes or none.
        """
        expected = _bytes(await self.redis.get(self.watermark_key))
        after = _decode(expected) if expected else self.start
        changes = await self.changes(after, self.batch)
        if not changes:
            return 0
        if not await self._commit([event for event, _ in changes], expected, _encode(changes[-1][1])):
            log.info("feed watermark moved by another poller; round aborted", extra={"key": self.watermark_key})
            return 0
        return len(changes)

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
                    pipe.set(self.watermark_key, position)
                    await pipe.execute()
            except WatchError:
                return False
        return True

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll this feed alone every `interval` seconds until `stop` is set."""
        await run_feeds([self], interval, stop)


class OpportunityFeed(KeysetFeed):
    """Approved opportunities (won and Approval_Status__c Approved) as `crm.opportunity.approved.v1`."""

    name = "opportunity"
    default_watermark_key = WATERMARK_KEY

    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent, Keyset]]:
        found = await self.reader.changed_opportunities(after, limit, where=APPROVED_WHERE, with_account=True)
        return [(approved_event(c), c.position) for c in found]


class AccountFeed(KeysetFeed):
    """Every account change (any field, SystemModstamp) as `crm.account.changed.v1`."""

    name = "account"
    default_watermark_key = ACCOUNT_WATERMARK_KEY

    async def changes(self, after: Keyset, limit: int) -> list[tuple[CloudEvent, Keyset]]:
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
                if count:
                    log.info("published changes", extra={"feed": feed.name, "count": count, "stream": feed.stream})
                    if count >= feed.batch:
                        due[index] = now  # a backlog: keep draining
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
