"""The event dead-letter streams (`<stream>:dead`): listed with reason and attempts, and replayed.

A consumer group that gives up on an event (undecodable, or its handler failed `max_deliveries`
times) moves it to `<stream>:dead` with the reason, the group, the deliveries it had and its entry
id (servicekit/streams.py). Here they are read by the public name of their stream and, once the
cause is fixed, replayed: the event goes back onto its stream as a new entry and leaves the dead
letters, in one script on the stream's hash tag (a replay happens once, even when two people
press the button). Every consumer group of the stream sees the replayed entry again; handlers are
idempotent (by event id or deterministic step keys), so a group that had handled it does nothing.

Entity scoping uses the event's `legalentity` attribute; an entry without one (or undecodable) is
shown only to a caller cleared for every entity (process_apis/entities.py).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from contracts import CloudEvent
from contracts.streams import CRM_EVENTS, ERP_EVENTS, FINANCE_EVENTS, PLANNING_EVENTS

__all__ = ["DEAD_LETTER_STREAMS", "DeadLetter", "DeadLetterPage", "DeadLetterStore", "ReplayedDeadLetter"]

#: Public stream name -> the event stream whose `:dead` stream holds its dead letters.
DEAD_LETTER_STREAMS: Final = {
    "crm": CRM_EVENTS,
    "erp": ERP_EVENTS,
    "finance": FINANCE_EVENTS,
    "planning": PLANNING_EVENTS,
}
_BATCH = 200
_PAYLOAD_SHOWN = 4000
_decoder = msgspec.json.Decoder(CloudEvent)

# KEYS: the stream, its dead-letter stream (one hash tag); ARGV: the dead entry id.
# Moves the dead entry's event back onto the stream; returns the new entry id, or false when the
# dead entry is gone (replayed already).
_REPLAY = """
local found = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #found == 0 then return false end
local fields = found[1][2]
local event = nil
for i = 1, #fields, 2 do
  if fields[i] == 'event' then event = fields[i + 1] end
end
if event == nil then return false end
local id = redis.call('XADD', KEYS[1], '*', 'event', event)
redis.call('XDEL', KEYS[2], ARGV[1])
return id
"""


class DeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """One event a consumer group gave up on, with why and after how many deliveries."""

    stream: str
    id: str
    dead_lettered_at: datetime
    reason: str
    #: Deliveries the entry had when it was dead-lettered (None: dead-lettered before this was kept).
    attempts: int | None = None
    #: The consumer group that gave up, and the entry's id in the stream.
    group: str | None = None
    entry_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    source: str | None = None
    subject: str | None = None
    legal_entity: str | None = None
    correlation_id: str | None = None
    data: dict[str, Any] | None = None
    #: The raw entry (first 4000 characters) when it is not a CloudEvent at all.
    payload: str | None = None


class DeadLetterPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of dead letters, oldest first; pass `next_cursor` back as `cursor` for the next one."""

    items: list[DeadLetter]
    next_cursor: str | None = None


class ReplayedDeadLetter(msgspec.Struct, kw_only=True, frozen=True):
    """A replayed dead letter: the event is back on `stream` as entry `replayed_as`."""

    stream: str
    id: str
    replayed_as: str
    event_id: str | None = None
    legal_entity: str | None = None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _entry(stream: str, entry_id: Any, fields: dict[Any, Any]) -> DeadLetter:
    values = {_text(k): v for k, v in fields.items()}
    ident = _text(entry_id)
    millis = int(ident.partition("-")[0]) if ident.partition("-")[0].isdigit() else 0
    attempts = _text(values["attempts"]) if "attempts" in values else ""
    common: dict[str, Any] = {
        "stream": stream,
        "id": ident,
        "dead_lettered_at": datetime.fromtimestamp(millis / 1000, UTC),
        "reason": _text(values.get("reason", b"")),
        "attempts": int(attempts) if attempts.isdigit() else None,
        "group": _text(values["group"]) if "group" in values else None,
        "entry_id": _text(values["entry"]) if "entry" in values else None,
    }
    raw = values.get("event", b"")
    try:
        event = _decoder.decode(raw)
    except msgspec.DecodeError:
        return DeadLetter(**common, payload=_text(raw)[:_PAYLOAD_SHOWN])
    return DeadLetter(
        **common,
        event_id=event.id,
        event_type=event.type,
        source=event.source,
        subject=event.subject,
        legal_entity=event.legalentity,
        correlation_id=event.correlationid,
        data=event.data,
    )


def _encode_cursor(stream: str, entry_id: str) -> str:
    return base64.urlsafe_b64encode(f"{stream}|{entry_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        stream, _, entry_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition("|")
    except (ValueError, UnicodeDecodeError):
        raise ValueError("cursor is not one this API issued") from None
    millis, _, seq = entry_id.partition("-")
    if stream not in DEAD_LETTER_STREAMS or not millis.isdigit() or not seq.isdigit():
        raise ValueError("cursor is not one this API issued")
    return stream, entry_id


class DeadLetterStore:
    """Reads and replays the dead letters of the event streams (`DEAD_LETTER_STREAMS`)."""

    def __init__(self, redis: Any) -> None:
        self.redis: Any = redis
        self._replay = redis.register_script(_REPLAY)

    async def page(
        self,
        admits: Callable[[str | None], Awaitable[bool]],
        *,
        stream: str | None,
        limit: int,
        cursor: str | None = None,
    ) -> DeadLetterPage:
        """Up to `limit` dead letters `admits` accepts (by their event's entity), stream by stream in
        `DEAD_LETTER_STREAMS` order, oldest first; ValueError for a foreign cursor."""
        names = [stream] if stream is not None else list(DEAD_LETTER_STREAMS)
        after: str | None = None
        if cursor is not None:
            at, after = _decode_cursor(cursor)
            if at not in names:
                raise ValueError("cursor is not one this API issued")
            names = names[names.index(at) :]
        found: list[DeadLetter] = []
        for name in names:
            start = f"({after}" if after is not None else "-"
            after = None
            while True:
                entries = await self.redis.xrange(f"{DEAD_LETTER_STREAMS[name]}:dead", start, "+", count=_BATCH)
                for entry_id, fields in entries:
                    letter = _entry(name, entry_id, fields)
                    if await admits(letter.legal_entity):
                        found.append(letter)
                        if len(found) == limit:
                            return DeadLetterPage(items=found, next_cursor=_encode_cursor(name, letter.id))
                if len(entries) < _BATCH:
                    break
                start = f"({_text(entries[-1][0])}"
        return DeadLetterPage(items=found)

    async def get(self, stream: str, entry_id: str) -> DeadLetter | None:
        """The dead letter `entry_id` of `stream` (a public name), or None."""
        if stream not in DEAD_LETTER_STREAMS or not _is_entry_id(entry_id):
            return None
        entries = await self.redis.xrange(f"{DEAD_LETTER_STREAMS[stream]}:dead", entry_id, entry_id)
        return _entry(stream, entries[0][0], entries[0][1]) if entries else None

    async def replay(self, letter: DeadLetter) -> ReplayedDeadLetter | None:
        """Put the letter's event back onto its stream and remove it from the dead letters; None if
        it is gone (replayed meanwhile)."""
        source = DEAD_LETTER_STREAMS[letter.stream]
        new_id = await self._replay(keys=[source, f"{source}:dead"], args=[letter.id])
        if new_id is None:
            return None
        return ReplayedDeadLetter(
            stream=letter.stream,
            id=letter.id,
            replayed_as=_text(new_id),
            event_id=letter.event_id,
            legal_entity=letter.legal_entity,
        )


def _is_entry_id(value: str) -> bool:
    millis, dash, seq = value.partition("-")
    return millis.isdigit() and dash == "-" and seq.isdigit() and len(value) <= 41
