"""The audit log in Redis: one append-only hash chain per legal entity, appended atomically.

Keys (one hash tag per chain, so both keys of an append live on one Redis Cluster slot):
`fig:audit:{audit-<chain>}:log` (a Stream, one entry per decision, field `entry` = the entry's
JSON) and `fig:audit:{audit-<chain>}:head` (`<seq>:<hash>` of the last entry).

One chain per legal entity, not one global chain: an entity's auditor reads and exports one
contiguous chain (so an export verifies offline from its first entry), entities' appends do not
queue behind each other and spread over cluster slots. Decisions of no single entity go to the
`GLOBAL` chain.

Redis's Lua has no SHA-256, so the appender hashes and the script compares and appends: it reads
the head and appends only if the head is still the one the entry was linked to, all in one step,
otherwise it answers the current head and the appender links again. Several processes can never
fork a chain; a process keeps each chain's last head, so an uncontended append is one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from servicekit.audit_chain import GENESIS, AuditEntry, AuditRecord, chain_of, link

__all__ = ["AuditAppendFailed", "AuditStore", "head_key", "log_key"]

# KEYS: head, log. ARGV: expected head "<seq>:<hash>", new head, entry JSON, the head of an empty chain.
# Answers {1, stream id} when appended, {0, current head} when another appender came first.
_APPEND = """
local head = redis.call('GET', KEYS[1]) or ARGV[4]
if head ~= ARGV[1] then
  return {0, head}
end
local id = redis.call('XADD', KEYS[2], '*', 'entry', ARGV[3])
redis.call('SET', KEYS[1], ARGV[2])
return {1, id}
"""

_EMPTY_HEAD = f"0:{GENESIS}"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AuditEntry)


def log_key(chain: str) -> str:
    return f"fig:audit:{{audit-{chain}}}:log"


def head_key(chain: str) -> str:
    return f"fig:audit:{{audit-{chain}}}:head"


class AuditAppendFailed(RuntimeError):
    """The chain kept moving under this appender for every attempt (never expected in practice)."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class AuditStore:
    """Appends records to their entity's chain and reads chains back in order."""

    def __init__(self, redis: Any, *, attempts: int = 1000) -> None:
        self.redis: Any = redis
        self.attempts = attempts
        self._append = redis.register_script(_APPEND)
        self._heads: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def append(self, record: AuditRecord) -> tuple[str, AuditEntry]:
        """Chain `record` after the last entry of its entity's chain; its stream id and the entry.

        Appends of one process to one chain go one at a time (they would only race each other);
        another process's append in between costs one more round trip.
        """
        chain = chain_of(record.legal_entity)
        lock = self._locks.setdefault(chain, asyncio.Lock())
        async with lock:
            head = self._heads.get(chain, _EMPTY_HEAD)
            for _ in range(self.attempts):
                seq, _, prev = head.partition(":")
                entry = link(record, chain=chain, seq=int(seq) + 1, prev=prev)
                new_head = f"{entry.seq}:{entry.hash}"
                done, answer = await self._append(
                    keys=[head_key(chain), log_key(chain)],
                    args=[head, new_head, _encoder.encode(entry), _EMPTY_HEAD],
                )
                if int(done) == 1:
                    self._heads[chain] = new_head
                    return _text(answer), entry
                head = _text(answer)
            self._heads.pop(chain, None)
        raise AuditAppendFailed(f"audit chain {chain} changed under {self.attempts} attempts to append")

    async def head(self, chain: str) -> tuple[int, str]:
        """The chain's last `seq` and hash as recorded by the appenders (0 and genesis when empty)."""
        raw = await self.redis.get(head_key(chain))
        seq, _, digest = (_text(raw) if raw is not None else _EMPTY_HEAD).partition(":")
        return int(seq), digest

    async def raw(
        self, chain: str, *, start: str = "-", end: str = "+", batch: int = 500
    ) -> AsyncIterator[tuple[str, bytes]]:
        """Each stream id and stored entry JSON of `chain` from `start` to `end` (inclusive), in order."""
        low = start
        while True:
            rows: Any = await self.redis.xrange(log_key(chain), min=low, max=end, count=batch)
            for stream_id, fields in rows:
                yield _text(stream_id), fields.get(b"entry", fields.get("entry", b""))
            if len(rows) < batch:
                return
            low = "(" + _text(rows[-1][0])

    async def entries(
        self, chain: str, *, start: str = "-", end: str = "+", batch: int = 500
    ) -> AsyncIterator[tuple[str, AuditEntry]]:
        """Each stream id and decoded entry of `chain` from `start` to `end`, in order."""
        async for stream_id, data in self.raw(chain, start=start, end=end, batch=batch):
            yield stream_id, _decoder.decode(data)

    async def chains(self) -> list[str]:
        """Every chain that has a head, sorted."""
        found: set[str] = set()
        async for key in self.redis.scan_iter(match="fig:audit:{audit-*}:head", count=500):
            name = _text(key)
            found.add(name[len("fig:audit:{audit-") : -len("}:head")])
        return sorted(found)
