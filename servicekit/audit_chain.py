"""The audit log's entries and their hash chain: encoding, linking and verification (no Redis here).

Every entry names the entry before it by its hash (`prev`, the genesis hash for the first entry of
a chain) and carries its own `hash`: SHA-256 over the canonical encoding of every other field
(sorted keys, compact separators, UTF-8). Altering an entry changes its hash; removing or reordering
entries breaks a `prev` link or the `seq` count. Verification reports the first entry that does not
hold and never repairs anything: a tampered log is evidence and stays as it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

__all__ = [
    "GENESIS",
    "GLOBAL_CHAIN",
    "AuditEntry",
    "AuditRecord",
    "ChainBreak",
    "canonical",
    "chain_of",
    "entry_hash",
    "link",
    "verify_entries",
]

#: The `prev` of a chain's first entry.
GENESIS = "0" * 64
#: The chain of decisions that belong to no single legal entity (e.g. a refused anonymous request).
GLOBAL_CHAIN = "GLOBAL"


class AuditRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One decision before it is chained: who, what, which resource, which entity, when, outcome."""

    time: str
    actor: str
    client: str
    action: str
    resource: str
    legal_entity: str | None
    correlation_id: str
    outcome: str
    detail: dict[str, str] = msgspec.field(default_factory=dict)


class AuditEntry(msgspec.Struct, kw_only=True, frozen=True):
    """A chained record: its chain and place in it (`seq` from 1), the previous entry's hash and its own."""

    chain: str
    seq: int
    time: str
    actor: str
    client: str
    action: str
    resource: str
    legal_entity: str | None
    correlation_id: str
    outcome: str
    detail: dict[str, str]
    prev: str
    hash: str


class ChainBreak(msgspec.Struct, kw_only=True, frozen=True):
    """The first entry that does not hold: its position in what was checked, its `seq` and why."""

    position: int
    seq: int | None
    reason: str

    def describe(self) -> str:
        seq = f"seq {self.seq}" if self.seq is not None else "no seq"
        return f"entry {self.position} ({seq}): {self.reason}"


def chain_of(legal_entity: str | None) -> str:
    """The chain a decision goes to: its legal entity's, or the global one."""
    return legal_entity or GLOBAL_CHAIN


def canonical(fields: Mapping[str, Any]) -> bytes:
    """The one byte encoding that is hashed: JSON with sorted keys, no whitespace, UTF-8."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding of every field but `hash`."""
    return hashlib.sha256(canonical({k: v for k, v in fields.items() if k != "hash"})).hexdigest()


def link(record: AuditRecord, *, chain: str, seq: int, prev: str) -> AuditEntry:
    """`record` as entry `seq` of `chain`, following the entry whose hash is `prev`."""
    fields = msgspec.structs.asdict(record)
    fields.update(chain=chain, seq=seq, prev=prev)
    return AuditEntry(**fields, hash=entry_hash(fields))


_FIELDS = frozenset(AuditEntry.__struct_fields__)


def verify_entries(entries: Iterable[Mapping[str, Any]], *, anchored: bool = True) -> ChainBreak | None:
    """The first entry of `entries` (decoded JSON objects, in order) that breaks the chain, or None.

    `anchored`: the first entry must be the chain's first (seq 1, prev = genesis); otherwise it is a
    sub-range (an export) and its own `prev` and `seq` anchor it. Checks, per entry: exactly the
    entry fields, its hash, one chain, `seq` one more than before, `prev` the hash before.
    """
    prev: str | None = GENESIS if anchored else None
    seq: int | None = 0 if anchored else None
    chain: str | None = None
    for position, fields in enumerate(entries, start=1):
        raw_seq = fields.get("seq")
        at = raw_seq if isinstance(raw_seq, int) else None
        if set(fields) != _FIELDS:
            missing = sorted(_FIELDS - set(fields))
            extra = sorted(set(fields) - _FIELDS)
            reason = f"not an audit entry (missing {missing}, extra {extra})"
            return ChainBreak(position=position, seq=at, reason=reason)
        if fields["hash"] != entry_hash(fields):
            return ChainBreak(position=position, seq=at, reason="its hash does not match its content (altered)")
        if chain is not None and fields["chain"] != chain:
            return ChainBreak(position=position, seq=at, reason=f"belongs to chain {fields['chain']!r}, not {chain!r}")
        if seq is not None and at != seq + 1:
            return ChainBreak(
                position=position, seq=at, reason=f"expected seq {seq + 1} (an entry was removed or reordered)"
            )
        if prev is None and at == 1 and fields["prev"] != GENESIS:
            return ChainBreak(position=position, seq=at, reason="a chain's first entry must follow the genesis hash")
        if prev is not None and fields["prev"] != prev:
            return ChainBreak(
                position=position,
                seq=at,
                reason="its prev is not the hash of the entry before (an entry was removed or reordered)",
            )
        chain, seq, prev = fields["chain"], at, fields["hash"]
    return None
