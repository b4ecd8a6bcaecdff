"""The planning versions the process API has seen, and when each was first seen published.

    fig:planning:{versions}   hash: version id -> JSON SeenVersion

Planning versions are a model's, not a legal entity's. Whoever reads version state from the
planning system API (the scheduler's version watch, a reconciliation reading committed bookings)
hands it to `PublishedVersions.observe`; a version seen published that was not (or not seen
before) is a publication, one seen unpublished that was published is a withdrawal. Each is
recorded once: the stored record is replaced only if it is still the one the change was worked
out from (compare-and-set in one script), and only the writer that replaced it chains the audit
entry (`planning.version.published` / `planning.version.unpublished`, global chain). So two
instances seeing the same publication record it once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from contracts import ForecastVersion
from process_apis.audit import record_observed
from process_apis.ports import PlanningVersionsPort
from servicekit.audit_store import AuditStore

__all__ = ["VERSIONS_KEY", "PublishedVersions", "SeenVersion", "committed_version"]

VERSIONS_KEY = "fig:planning:{versions}"

# KEYS[1] the hash; ARGV: field, the value the change was worked out from ('' = none), the new value.
_SWAP = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class SeenVersion(msgspec.Struct, kw_only=True, frozen=True):
    """A planning version as the process API last saw it change."""

    id: str
    name: str
    kind: Literal["actuals", "forecast", "budget", "committed"]
    published: bool
    published_since: Annotated[
        datetime | None,
        msgspec.Meta(
            description=(
                "When the process API first saw the version published (its current publication; a version "
                "unpublished and published again gets a new time); null while it is not published."
            )
        ),
    ]
    first_seen_at: Annotated[datetime, msgspec.Meta(description="When the process API first saw the version.")]
    changed_at: Annotated[datetime, msgspec.Meta(description="When it last saw the version's state change.")]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(SeenVersion)


def _next(stored: SeenVersion | None, seen: ForecastVersion, now: datetime) -> SeenVersion | None:
    """The record after seeing `seen` (None: nothing changed)."""
    if stored is None:
        return SeenVersion(
            id=seen.id,
            name=seen.name,
            kind=seen.kind,
            published=seen.published,
            published_since=now if seen.published else None,
            first_seen_at=now,
            changed_at=now,
        )
    if (stored.name, stored.kind, stored.published) == (seen.name, seen.kind, seen.published):
        return None
    since = stored.published_since if stored.published == seen.published else (now if seen.published else None)
    return msgspec.structs.replace(
        stored, name=seen.name, kind=seen.kind, published=seen.published, published_since=since, changed_at=now
    )


def committed_version(versions: Sequence[SeenVersion]) -> SeenVersion | None:
    """The model's one committed-bookings version, or None when there is none or more than one."""
    committed = [v for v in versions if v.kind == "committed"]
    return committed[0] if len(committed) == 1 else None


class PublishedVersions:
    """Records planning versions' publications (see the module docstring)."""

    def __init__(self, redis: Any, audit: AuditStore, clock: Callable[[], datetime]) -> None:
        self.redis: Any = redis
        self.audit = audit
        self.clock = clock
        self._swap = redis.register_script(_SWAP)

    async def all(self) -> list[SeenVersion]:
        """Every version seen so far, by id."""
        return await self.seen(self.redis)

    @staticmethod
    async def seen(redis: Any) -> list[SeenVersion]:
        """Every version seen so far, by id (for readers without an instance)."""
        raw = await redis.hgetall(VERSIONS_KEY)
        return sorted((_decoder.decode(v) for v in raw.values()), key=lambda v: v.id)

    async def observe(self, versions: Sequence[ForecastVersion], *, observer: str) -> list[SeenVersion]:
        """Record what changed in `versions` since last seen; the records of the versions whose
        publication (or withdrawal) this call recorded, each chained into the audit log."""
        if not versions:
            return []
        ids = [v.id for v in versions]
        raws = await self.redis.hmget(VERSIONS_KEY, ids)
        recorded = []
        for seen, raw in zip(versions, raws, strict=True):
            stored = _decoder.decode(raw) if raw is not None else None
            now = self.clock()
            changed = _next(stored, seen, now)
            if changed is None:
                continue
            swapped = await self._swap(keys=[VERSIONS_KEY], args=[seen.id, raw or b"", _encoder.encode(changed)])
            was_published = stored is not None and stored.published
            if not swapped or changed.published == was_published:
                continue  # another observer recorded it first, or only the name or kind changed
            await record_observed(
                self.audit,
                "planning.version.published" if changed.published else "planning.version.unpublished",
                observer=observer,
                resource=f"planning-version:{seen.id}",
                legal_entity=None,
                at=now,
                detail={"name": seen.name, "kind": seen.kind},
            )
            recorded.append(changed)
        return recorded

    async def watch(self, source: PlanningVersionsPort, *, observer: str) -> list[SeenVersion]:
        """Read every version from the planning system API and `observe` them."""
        return await self.observe(await source.forecast_versions(), observer=observer)
