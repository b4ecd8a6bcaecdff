"""The CRM change feed: poll Salesforce for newly approved opportunities, publish canonical events.

Each event and the watermark that passes it commit in one Redis MULTI/EXEC, guarded by WATCH on
the watermark: a crash can neither lose an event (watermark not moved without it) nor repeat one
(event not written without the watermark), and a second poller that raced us aborts its round.
Event ids are deterministic (opportunity id + SystemModstamp), so consumers can dedupe anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import datetime
from typing import Final

import msgspec
from redis.exceptions import RedisError, WatchError

from contracts import OPPORTUNITY_APPROVED, CloudEvent, new_event
from contracts.streams import CRM_EVENTS
from servicekit.context import new_correlation_id
from servicekit.redis import RedisClient
from servicekit.streams import EVENT_FIELD, encode_event
from system_apis.crm.connector.mapping import REGION_ENTITY, sf_datetime
from system_apis.crm.connector.reader import ChangedOpportunity, CrmReader, Keyset
from system_apis.crm.errors import CrmError, SalesforceLimitExceeded

__all__ = ["APPROVED_WHERE", "EVENT_SOURCE", "WATERMARK_KEY", "OpportunityFeed", "approved_event"]

log = logging.getLogger("system_apis.crm.feed")

WATERMARK_KEY: Final = "fig:feed:{crm}:opportunity"
EVENT_SOURCE: Final = "fig://system-apis/crm"
#: "Approved for quote-to-cash" (COMMON brief): won and approved.
APPROVED_WHERE: Final = "IsWon = true AND Approval_Status__c = 'Approved'"
_EVENT_NAMESPACE: Final = uuid.UUID("6f1c2d4e-8a7b-4c1d-9e2f-3a4b5c6d7e8f")


def approved_event(change: ChangedOpportunity) -> CloudEvent:
    """`crm.opportunity.approved.v1` for one change; the id is fixed by opportunity id + modstamp."""
    opportunity = change.opportunity
    key = f"salesforce:Opportunity:{opportunity.id}:{sf_datetime(change.position.modstamp)}"
    return new_event(
        source=EVENT_SOURCE,
        type=OPPORTUNITY_APPROVED,
        data=msgspec.to_builtins(opportunity),
        subject=opportunity.id,
        correlation_id=new_correlation_id(),
        legal_entity=REGION_ENTITY.get(opportunity.region or ""),
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, key)),
    )


def _encode(position: Keyset) -> bytes:
    return f"{position.modstamp.isoformat()}|{position.record_id}".encode()


def _bytes(raw: bytes | str | None) -> bytes | None:
    return raw.encode() if isinstance(raw, str) else raw


def _decode(raw: bytes) -> Keyset:
    stamp, _, record_id = raw.decode().partition("|")
    return Keyset(datetime.fromisoformat(stamp), record_id)


class OpportunityFeed:
    """Polls approved opportunities after the stored watermark and publishes one event per change."""

    def __init__(
        self,
        reader: CrmReader,
        redis: RedisClient,
        *,
        start: datetime,
        stream: str = CRM_EVENTS,
        watermark_key: str = WATERMARK_KEY,
        batch: int = 200,
        maxlen: int = 1_000_000,
    ) -> None:
        self.reader = reader
        self.redis = redis
        self.start = Keyset(start)
        self.stream = stream
        self.watermark_key = watermark_key
        self.batch = batch
        self.maxlen = maxlen

    async def watermark(self) -> Keyset:
        raw = _bytes(await self.redis.get(self.watermark_key))
        return _decode(raw) if raw else self.start

    async def poll_once(self) -> int:
        """One round: publish every approved change after the watermark (up to `batch`); returns the count."""
        expected = _bytes(await self.redis.get(self.watermark_key))
        after = _decode(expected) if expected else self.start
        changes = await self.reader.changed_opportunities(after, self.batch, where=APPROVED_WHERE)
        published = 0
        for change in changes:
            position = _encode(change.position)
            if not await self._commit(approved_event(change), expected, position):
                log.info("feed watermark moved by another poller; round aborted", extra={"key": self.watermark_key})
                break
            expected = position
            published += 1
        return published

    async def _commit(self, event: CloudEvent, expected: bytes | None, position: bytes) -> bool:
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(self.watermark_key)
                if _bytes(await pipe.get(self.watermark_key)) != expected:
                    return False
                pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves multi() unannotated
                pipe.xadd(self.stream, {EVENT_FIELD: encode_event(event)}, maxlen=self.maxlen, approximate=True)
                pipe.set(self.watermark_key, position)
                await pipe.execute()
            except WatchError:
                return False
        return True

    async def run(self, interval: float, stop: asyncio.Event) -> None:
        """Poll every `interval` seconds until `stop` is set; failures are logged, never fatal."""
        while not stop.is_set():
            delay = interval
            try:
                count = await self.poll_once()
                if count:
                    log.info("published approved opportunities", extra={"count": count, "stream": self.stream})
                    if count >= self.batch:
                        delay = 0  # a backlog: keep draining
            except SalesforceLimitExceeded as exc:
                # Retrying burns what little allocation is left; wait much longer before the next try.
                log.error("change feed paused: Salesforce API allocation exhausted", extra={"detail": exc.message})
                delay = max(interval * 20, 60.0)
            except (CrmError, RedisError) as exc:
                log.warning("change feed poll failed", extra={"error": str(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay or 0.001)
