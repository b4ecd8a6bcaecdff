"""Versioned validation rule sets in Redis, like mapping sets: versions are added, never changed.

    fig:controls:{rules-<name>}:versions   hash n -> JSON StoredRuleSet (the rules, author, approver, time)
    fig:controls:{rules-<name>}:active     the active n

At start-up the files shipped in `rules/` are seeded as versions (author `repository`) without
overwriting anything; after that a version is added (and activated) or an earlier one activated
again (a roll back) only through an approved proposal (four eyes). Workflows read the active
pointer through a short per-process cache (`pointer_ttl`), so an activation reaches every
instance within that time without a Redis round trip per run step; versions never change, so
their contents are cached for good.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any

import msgspec

from process_apis.controls.rule_sets import Rule, RuleId, RuleSet

__all__ = ["RuleChange", "RuleSetBody", "RuleSetDiff", "RuleSetVersion", "RuleStore", "StoredRuleSet"]

_RULES = "process_apis.controls.rules"

_ADD_VERSION = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""
_ACTIVATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


class RuleSetBody(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A new rule set version as a client proposes it (the server numbers it)."""

    rules: Annotated[list[Rule], msgspec.Meta(min_length=1, max_length=50)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class StoredRuleSet(msgspec.Struct, kw_only=True, frozen=True):
    """One stored version: the rules, who proposed (author) and approved it, and when it was added."""

    rule_set: RuleSet
    author: str
    approver: str | None = None
    created_at: datetime


class RuleSetVersion(msgspec.Struct, kw_only=True, frozen=True):
    """One version of a rule set; `active` says whether workflows use it now."""

    name: str
    number: int
    active: bool
    rule_set: RuleSet
    author: str
    approver: str | None = None
    created_at: datetime


class RuleChange(msgspec.Struct, kw_only=True, frozen=True):
    """A rule present in both versions with different settings."""

    id: RuleId
    before: Rule
    after: Rule


class RuleSetDiff(msgspec.Struct, kw_only=True, frozen=True):
    """What changes from version `from_number` to `to_number`."""

    name: str
    from_number: int
    to_number: int
    added: list[Rule]
    removed: list[Rule]
    changed: list[RuleChange]
    description_changed: bool


def diff_rule_sets(name: str, old: tuple[int, RuleSet], new: tuple[int, RuleSet]) -> RuleSetDiff:
    """The rules added, removed and changed between two versions (matched by rule id)."""
    before = {r.id: r for r in old[1].rules}
    after = {r.id: r for r in new[1].rules}
    return RuleSetDiff(
        name=name,
        from_number=old[0],
        to_number=new[0],
        added=[r for i, r in after.items() if i not in before],
        removed=[r for i, r in before.items() if i not in after],
        changed=[RuleChange(id=i, before=before[i], after=r) for i, r in after.items() if before.get(i, r) != r],
        description_changed=old[1].description != new[1].description,
    )


def validate_rules(name: str, n: int, body: RuleSetBody) -> RuleSet:
    """The body as version n of `name`; ValueError naming the problem (a rule listed twice)."""
    seen: set[str] = set()
    for rule in body.rules:
        if rule.id in seen:
            raise ValueError(f"$.rules: rule {rule.id!r} is listed twice")
        seen.add(rule.id)
    return RuleSet(version=f"{name}-v{n}", rules=list(body.rules), description=body.description)


class RuleStore:
    """The versioned rule sets."""

    def __init__(self, redis: Any, *, pointer_ttl: float = 1.0) -> None:
        self.redis: Any = redis
        self.pointer_ttl = pointer_ttl
        self._versions: dict[tuple[str, int], StoredRuleSet] = {}
        self._pointers: dict[str, tuple[float, int]] = {}
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(StoredRuleSet)

    @staticmethod
    def keys(name: str) -> tuple[str, str]:
        return f"fig:controls:{{rules-{name}}}:versions", f"fig:controls:{{rules-{name}}}:active"

    async def seed(self) -> None:
        """Add the repo's rule files as versions (never overwriting); activate the newest if none is."""
        newest: dict[str, int] = {}
        for entry in resources.files(_RULES).iterdir():
            if not entry.name.endswith(".json") or "-v" not in entry.name:
                continue
            name, _, number = entry.name.removesuffix(".json").rpartition("-v")
            if not number.isdigit():
                continue
            rule_set = msgspec.json.decode(entry.read_bytes(), type=RuleSet, strict=True)
            stored = StoredRuleSet(rule_set=rule_set, author="repository", created_at=datetime.now(UTC))
            await self.redis.hsetnx(self.keys(name)[0], number, self._encoder.encode(stored))
            newest[name] = max(newest.get(name, 0), int(number))
        for name, n in newest.items():
            await self.redis.set(self.keys(name)[1], str(n), nx=True)

    async def active_version(self, name: str) -> int | None:
        raw = await self.redis.get(self.keys(name)[1])
        if raw is None:
            return None
        self._pointers[name] = (time.monotonic() + self.pointer_ttl, int(raw))
        return int(raw)

    async def version(self, name: str, n: int) -> StoredRuleSet | None:
        cached = self._versions.get((name, n))
        if cached is not None:
            return cached
        raw = await self.redis.hget(self.keys(name)[0], str(n))
        if raw is None:
            return None
        stored: StoredRuleSet = self._decoder.decode(raw)
        self._versions[(name, n)] = stored
        return stored

    async def current(self, name: str) -> RuleSet | None:
        """The active rule set, with the active pointer cached for `pointer_ttl` seconds."""
        pointer = self._pointers.get(name)
        n = pointer[1] if pointer is not None and time.monotonic() < pointer[0] else await self.active_version(name)
        if n is None:
            return None
        stored = await self.version(name, n)
        return stored.rule_set if stored is not None else None

    async def versions(self, name: str) -> list[RuleSetVersion]:
        """Every version, oldest first."""
        active = await self.active_version(name)
        raw: dict[Any, Any] = await self.redis.hgetall(self.keys(name)[0])
        out = []
        for key, value in sorted(raw.items(), key=lambda kv: int(kv[0])):
            stored = self._decoder.decode(value)
            out.append(self.view(name, int(key), stored, active))
        return out

    @staticmethod
    def view(name: str, n: int, stored: StoredRuleSet, active: int | None) -> RuleSetVersion:
        return RuleSetVersion(
            name=name,
            number=n,
            active=n == active,
            rule_set=stored.rule_set,
            author=stored.author,
            approver=stored.approver,
            created_at=stored.created_at,
        )

    async def add(self, name: str, body: RuleSetBody, *, author: str, approver: str | None) -> int:
        """Make `body` version n+1 of `name` and activate it; ValueError if it does not validate."""
        versions, active = self.keys(name)
        for _ in range(10):
            n = int(await self.redis.hlen(versions)) + 1
            stored = StoredRuleSet(
                rule_set=validate_rules(name, n, body), author=author, approver=approver, created_at=datetime.now(UTC)
            )
            if await self.redis.eval(_ADD_VERSION, 2, versions, active, str(n), self._encoder.encode(stored)):
                self._pointers.pop(name, None)
                return n
        raise RuntimeError(f"rule set {name} is being changed concurrently; try again")

    async def activate(self, name: str, n: int) -> bool:
        """Make existing version n active (a roll back or forward); False if there is no such version."""
        versions, active = self.keys(name)
        done = bool(await self.redis.eval(_ACTIVATE, 2, versions, active, str(n)))
        self._pointers.pop(name, None)
        return done
