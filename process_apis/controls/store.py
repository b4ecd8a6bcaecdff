"""Versioned controls in Redis: mapping sets editable through the API, rule sets (controls/rule_store.py).

    fig:controls:{mapping-<name>}:versions   hash n -> JSON MappingSet (`version` = `<name>-v<n>`)
    fig:controls:{mapping-<name>}:active     the active n

Versions are never changed or deleted: a PUT validates the new set and adds version n+1 and makes
it active in one script (both keys share a slot). At start-up every instance seeds the versions
shipped as files (`mappings/<name>-v<n>.json`) without overwriting anything, so the repo is the
baseline and the API the way to change it. Workflows read the active version once per step run,
so a fix made through the API is what the next retry uses, on every instance.
"""

from __future__ import annotations

from collections import defaultdict
from importlib import resources
from typing import Any

import msgspec

from process_apis.controls.mapping import MappingSet, MappingSetError
from process_apis.controls.rule_sets import RuleSet, load_rule_set
from process_apis.controls.rule_store import RuleStore

__all__ = ["ControlStore", "MappingSetBody", "StaticControls", "validate_mapping"]

_MAPPINGS = "process_apis.controls.mappings"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(MappingSet)

_ADD_VERSION = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


class MappingSetBody(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A new mapping set version as a client sends it (the server numbers it)."""

    regions: dict[str, Any]
    products: dict[str, Any]
    description: str = ""


def validate_mapping(name: str, n: int, body: MappingSetBody) -> MappingSet:
    """The body as version n of `name`, or MappingSetError naming every problem."""
    try:
        candidate = msgspec.convert(
            {**msgspec.to_builtins(body), "version": f"{name}-v{n}"}, type=MappingSet, strict=True
        )
    except msgspec.ValidationError as exc:
        raise MappingSetError(f"mapping set does not match its schema: {exc}") from None
    problems: list[str] = []
    if not candidate.regions:
        problems.append("$.regions: at least one region is needed")
    if not candidate.products:
        problems.append("$.products: at least one product is needed")
    subsidiaries: dict[str, set[str]] = defaultdict(set)
    for region, entity in candidate.regions.items():
        subsidiaries[entity.legal_entity].add(entity.subsidiary_id)
        if not entity.subsidiary_id.isdigit():
            problems.append(f"$.regions.{region}.subsidiary_id: must be an ERP internal id (digits)")
    problems += [
        f"$.regions: legal entity {le} maps to several subsidiaries ({', '.join(sorted(ids))})"
        for le, ids in subsidiaries.items()
        if len(ids) > 1
    ]
    problems += [
        f"$.products.{code}.item_id: must be an ERP internal id (digits)"
        for code, product in candidate.products.items()
        if not product.item_id.isdigit()
    ]
    if problems:
        raise MappingSetError("; ".join(problems))
    return candidate


class StaticControls:
    """Fixed controls (tests, tools): the same mapping set and rule set every time."""

    def __init__(self, mapping: MappingSet, rules: RuleSet | None = None) -> None:
        self.mapping_set = mapping
        self.rule_set = rules or load_rule_set()

    version_key: str | None = None

    async def current(self) -> tuple[MappingSet, RuleSet]:
        return self.mapping_set, self.rule_set

    async def current_at(self, version: bytes | None) -> tuple[MappingSet, RuleSet]:
        return self.mapping_set, self.rule_set


class ControlStore:
    """The versioned mapping sets of the process API, and its rule sets."""

    def __init__(self, redis: Any, *, mapping: str = "default", rules: str = "quote-to-cash") -> None:
        self.redis: Any = redis
        self.mapping_name = mapping
        self.rule_set_name = rules
        #: The shipped rule set, used until the versioned store holds one (it is seeded at start-up).
        self.rule_set = load_rule_set(rules)
        self.rules = RuleStore(redis)
        self._cache: dict[tuple[str, int], MappingSet] = {}

    @staticmethod
    def _keys(name: str) -> tuple[str, str]:
        return f"fig:controls:{{mapping-{name}}}:versions", f"fig:controls:{{mapping-{name}}}:active"

    async def seed(self) -> None:
        """Add the repo's mapping and rule files as versions (never overwriting); activate the newest if none is."""
        names: dict[str, int] = {}
        for entry in resources.files(_MAPPINGS).iterdir():
            if entry.name.endswith(".json") and "-v" in entry.name:
                name, _, n = entry.name.removesuffix(".json").rpartition("-v")
                if n.isdigit():
                    names[name] = max(names.get(name, 0), int(n))
                    versions, _ = self._keys(name)
                    await self.redis.hsetnx(versions, n, entry.read_bytes())
        for name, newest in names.items():
            await self.redis.set(self._keys(name)[1], str(newest), nx=True)
        await self.rules.seed()

    async def active_version(self, name: str) -> int | None:
        raw = await self.redis.get(self._keys(name)[1])
        return int(raw) if raw is not None else None

    async def version(self, name: str, n: int) -> MappingSet | None:
        cached = self._cache.get((name, n))
        if cached is not None:
            return cached
        raw = await self.redis.hget(self._keys(name)[0], str(n))
        if raw is None:
            return None
        mapping = _decoder.decode(raw)
        self._cache[(name, n)] = mapping
        return mapping

    async def versions(self, name: str) -> int:
        return int(await self.redis.hlen(self._keys(name)[0]))

    async def active(self, name: str) -> tuple[int, MappingSet] | None:
        n = await self.active_version(name)
        if n is None:
            return None
        mapping = await self.version(name, n)
        return (n, mapping) if mapping is not None else None

    async def put(self, name: str, body: MappingSetBody) -> tuple[int, MappingSet]:
        """Validate `body` and make it version n+1 (active); MappingSetError if it is not valid."""
        versions, active = self._keys(name)
        for _ in range(10):
            n = await self.versions(name) + 1
            mapping = validate_mapping(name, n, body)
            if await self.redis.eval(_ADD_VERSION, 2, versions, active, str(n), _encoder.encode(mapping)):
                self._cache[(name, n)] = mapping
                return n, mapping
        raise RuntimeError(f"mapping set {name} is being changed concurrently; try again")

    @property
    def version_key(self) -> str:
        """The key holding the active version of the mapping set workflows use."""
        return self._keys(self.mapping_name)[1]

    async def current(self) -> tuple[MappingSet, RuleSet]:
        """The active mapping set workflows use now, and the rule set."""
        return await self.current_at(await self.redis.get(self.version_key))

    async def current_at(self, version: bytes | None) -> tuple[MappingSet, RuleSet]:
        """The same, given the value of `version_key` as just read (with a run's lease)."""
        mapping = await self.version(self.mapping_name, int(version)) if version is not None else None
        if mapping is None:
            raise MappingSetError(f"no active mapping set {self.mapping_name!r}; was the store seeded?")
        return mapping, await self.rules.current(self.rule_set_name) or self.rule_set
