"""Redis Streams as the event backbone: CloudEvents in, consumer groups out, idle entries reclaimed.

Delivery is at-least-once: an entry is acknowledged only after its handler returned, and an entry
left pending by a dead consumer is claimed by another after `claim_idle_ms`. Handlers must be
idempotent (dedupe by event id or by a deterministic step key).

Trace context crosses the stream in the CloudEvents distributed-tracing extension (`traceparent`,
`tracestate` on the envelope): `StreamPublisher` writes the current context into an event that has
none, and the consumer handles each event inside a CONSUMER span (messaging semantic conventions)
whose parent is the context the event carries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from redis.crc import key_slot
from redis.exceptions import RedisError, ResponseError
from redis.typing import EncodableT, FieldT

from contracts import CloudEvent
from servicekit.metrics import redis_error
from servicekit.redis import RedisClient
from servicekit.telemetry import telemetry

__all__ = [
    "EVENT_FIELD",
    "EventHandler",
    "Redeliver",
    "StreamConsumer",
    "StreamPublisher",
    "encode_event",
    "producer_span",
    "with_trace_context",
]

log = logging.getLogger("servicekit.streams")

EVENT_FIELD = b"event"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CloudEvent)

EventHandler = Callable[[CloudEvent], Awaitable[None]]
_tracer = trace.get_tracer("servicekit.streams")


@contextmanager
def producer_span(stream: str, count: int) -> Iterator[None]:
    """A PRODUCER span `publish <stream>` (messaging conventions) for appending `count` events;
    events given `with_trace_context` inside it carry it. Nothing when tracing is off or `count` is 0."""
    if not count or not telemetry().tracing:
        yield
        return
    attributes: dict[str, str | int] = {
        "messaging.system": "redis",
        "messaging.operation.type": "send",
        "messaging.operation.name": "xadd",
        "messaging.destination.name": stream,
        "messaging.batch.message_count": count,
    }
    with _tracer.start_as_current_span(f"publish {stream}", kind=SpanKind.PRODUCER, attributes=attributes):
        yield


def with_trace_context(event: CloudEvent) -> CloudEvent:
    """`event` carrying the current trace context (unless it carries one already)."""
    if event.traceparent is not None:
        return event
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if "traceparent" not in carrier:
        return event
    return msgspec.structs.replace(event, traceparent=carrier["traceparent"], tracestate=carrier.get("tracestate"))


class Redeliver(Exception):
    """Raised by a handler to leave the entry pending on purpose (e.g. the resource is busy): it is
    claimed again after `claim_idle_ms`, and nothing is logged as an error."""


def encode_event(event: CloudEvent) -> bytes:
    return _encoder.encode(event)


class StreamPublisher:
    """Appends events to one stream, trimmed approximately to `maxlen` entries."""

    def __init__(self, redis: RedisClient, stream: str, maxlen: int = 1_000_000) -> None:
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen

    async def publish(self, event: CloudEvent) -> str:
        entry_id = await self.redis.xadd(
            self.stream, {EVENT_FIELD: encode_event(with_trace_context(event))}, maxlen=self.maxlen, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


# KEYS: the stream; ARGV: group, least idle ms, the caller's own consumer name. Removes the idle
# consumers with nothing pending; returns their names.
_REMOVE_DEAD = """
local removed = {}
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if f['name'] ~= ARGV[3] and f['pending'] == 0 and f['idle'] >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    table.insert(removed, f['name'])
  end
end
return removed
"""


class StreamConsumer:
    """One member of a consumer group; `run()` until `stop` is set."""

    def __init__(
        self,
        redis: RedisClient,
        stream: str,
        group: str,
        consumer: str,
        handler: EventHandler,
        *,
        count: int = 50,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 10,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.count = count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.dead_letter_stream = f"{stream}:dead"

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        while not stop.is_set():
            try:
                await self._claim_idle()
                reply: Any = await self.redis.xreadgroup(
                    self.group, self.consumer, {self.stream: ">"}, count=self.count, block=self.block_ms
                )
                for _stream, entries in reply or []:
                    await self._handle_all(entries)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc, RedisError | OSError):
                    redis_error("stream-consumer")
                log.exception("stream consumer error", extra={"stream": self.stream, "group": self.group})
                await asyncio.sleep(1.0)

    async def remove_dead_consumers(self, idle_ms: int) -> list[str]:
        """Remove from the group every other consumer idle for `idle_ms` with nothing pending; their names.

        A consumer's name dies with its process (names are per instance), but the group keeps it
        forever. One with entries pending is left: `_claim_idle` moves those to the living first,
        and the consumer goes on a later call. A live consumer reads (and so resets its idle time)
        at least every `block_ms`; one idle far longer with nothing pending has no process behind
        it, and if it had, its next read would simply add it again.
        """
        # Checked and removed in one script: a consumer that read an entry between a separate
        # check and its removal would lose that entry (DELCONSUMER drops its pending entries).
        raw: Any = await self.redis.eval(_REMOVE_DEAD, 1, self.stream, self.group, idle_ms, self.consumer)
        removed = [n.decode() if isinstance(n, bytes) else str(n) for n in raw or []]
        if removed:
            log.info("dead consumers removed", extra={"stream": self.stream, "group": self.group, "consumers": removed})
        return removed

    async def _claim_idle(self) -> None:
        result: Any = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=self.count,
        )
        entries = result[1] if result else []
        if entries:
            await self._handle_all([e for e in entries if e and e[1]], reclaimed=True)

    async def _handle_all(self, entries: list[Any], *, reclaimed: bool = False) -> None:
        """Handle a batch in order; the entries handled are acknowledged together at its end (a
        crash before that redelivers them: handlers are idempotent)."""
        done: list[bytes] = []
        try:
            for entry_id, fields in entries:
                if await self._handle(entry_id, fields, reclaimed=reclaimed):
                    done.append(entry_id)
        finally:
            if done:
                await self.redis.xack(self.stream, self.group, *done)

    async def _handle(self, entry_id: bytes, fields: dict[bytes, bytes], *, reclaimed: bool) -> bool:
        """Handle one entry; True when it is done (to acknowledge), False when it stays pending."""
        payload = fields.get(EVENT_FIELD, b"")
        try:
            event = _decoder.decode(payload)
        except msgspec.DecodeError as exc:
            await self._dead_letter(entry_id, payload, f"undecodable event: {exc}", await self._deliveries(entry_id))
            return False
        if reclaimed:
            deliveries = await self._deliveries(entry_id)
            if deliveries > self.max_deliveries:
                await self._dead_letter(entry_id, payload, f"handler failed {self.max_deliveries} times", deliveries)
                return False
        carrier = {"traceparent": event.traceparent or ""}
        if event.tracestate:
            carrier["tracestate"] = event.tracestate
        attributes: dict[str, str | int] = {
            "messaging.system": "redis",
            "messaging.operation.type": "process",
            "messaging.operation.name": "xreadgroup",
            "messaging.destination.name": self.stream,
            "messaging.consumer.group.name": self.group,
            "messaging.message.id": event.id,
            "cloudevents.event_type": event.type,
            "cloudevents.event_id": event.id,
        }
        if event.correlationid:
            attributes["fig.correlation_id"] = event.correlationid
        if event.legalentity:
            attributes["fig.legal_entity"] = event.legalentity
        try:
            with _tracer.start_as_current_span(
                f"process {self.stream}",
                context=propagate.extract(carrier),
                kind=SpanKind.CONSUMER,
                attributes=attributes,
            ):
                await self.handler(event)
        except asyncio.CancelledError:
            raise
        except Redeliver as reason:
            log.debug("event left pending", extra={"event_id": event.id, "reason": str(reason)})
            return False
        except Exception:
            # Left pending on purpose: it is claimed again after `claim_idle_ms`.
            log.exception("event handler failed", extra={"event_id": event.id, "event_type": event.type})
            return False
        return True

    async def _deliveries(self, entry_id: bytes) -> int:
        info: Any = await self.redis.xpending_range(self.stream, self.group, entry_id, entry_id, 1)
        return int(info[0]["times_delivered"]) if info else 0

    async def _dead_letter(self, entry_id: bytes, payload: bytes, reason: str, attempts: int) -> None:
        """Move the entry to `<stream>:dead` with why, the group that gave up, how many deliveries
        it had and its id in the stream, and acknowledge it (in one MULTI when both share a slot)."""
        log.error("event dead-lettered", extra={"entry_id": entry_id.decode(), "reason": reason})
        fields: dict[FieldT, EncodableT] = {
            EVENT_FIELD: payload,
            b"reason": reason.encode(),
            b"group": self.group,
            b"attempts": str(max(1, attempts)),
            b"entry": entry_id,
        }
        if key_slot(self.stream.encode()) != key_slot(self.dead_letter_stream.encode()):
            # A stream without a hash tag has its dead letters in another Redis Cluster slot: add,
            # then acknowledge, so a crash in between repeats the dead letter but never loses it.
            await self.redis.xadd(self.dead_letter_stream, fields)
            await self.redis.xack(self.stream, self.group, entry_id)
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.dead_letter_stream, fields)
        pipe.xack(self.stream, self.group, entry_id)
        await pipe.execute()
