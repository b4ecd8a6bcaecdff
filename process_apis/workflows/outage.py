"""Runs wait out a system's outage at their gate instead of becoming exceptions.

A step's in-step retries last seconds; a SaaS outage or maintenance window lasts minutes to hours.
When a step's retries are spent on `DownstreamUnavailable` (the system API is unreachable, answers
503 because its vendor is down or its breaker is open, or throttles), the run stays at the gate it
had passed, marked `waiting_for` that system since `waiting_since`, and is listed in the system's
outage index (`fig:q2c:outage:<system>`, score = when to check again). The sweep drives every due
run again (`recheck`); each check that finds the system still down waits longer (half the outage
so far, at least `recheck_min`, at most `recheck_max` seconds, at least the system's `Retry-After`,
with jitter so the runs do not all return at once). The first step that passes clears the mark; only
a run still waiting after `horizon` seconds becomes an exception (parked, then dead-lettered by the
exception policy as before). A retried or replayed run (`resumed_at`) does not wait: the person or
policy that retried it sees the failure.

A write that reached the vendor but whose answer was lost is harmless here: the step that runs again
is the same upsert on the deterministic external id (with the same idempotency key), so it finds
the record instead of posting another.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec

from process_apis.errors import DownstreamUnavailable, ProcessError
from process_apis.schemas import QuoteToCashRun
from process_apis.workflows.store import Effect

__all__ = ["SYSTEMS", "OutagePolicy", "claim_due", "left_outage", "outage_index", "wait_out"]

log = logging.getLogger("process_apis.outage")

#: The system APIs runs can wait for (the `service` of their DownstreamUnavailable).
SYSTEMS = ("crm", "erp", "planning")

# KEYS: the index; ARGV: run id, now, the claimed score. Claims a due entry by moving its score on
# (a crashed claimer's entry is due again then); 1 if this caller claimed it.
_CLAIM = """
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  return 1
end
return 0
"""


def outage_index(system: str) -> str:
    """The runs waiting for `system` (member: run id, score: when to check again, epoch s)."""
    return f"fig:q2c:outage:{system}"


class OutagePolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How long runs wait for a system that is down, and how often they check."""

    horizon: float = 4 * 3600.0
    recheck_min: float = 1.0
    recheck_max: float = 60.0


def wait_out(
    run: QuoteToCashRun, exc: ProcessError, now: datetime, policy: OutagePolicy
) -> tuple[QuoteToCashRun, Effect] | None:
    """The run marked waiting for the unavailable system and its index entry; None when `exc` is not
    an outage, the run was retried or replayed, or it has waited `horizon` already."""
    if not isinstance(exc, DownstreamUnavailable) or exc.service not in SYSTEMS or run.resumed_at is not None:
        return None
    since = run.waiting_since if run.waiting_for == exc.service and run.waiting_since is not None else now
    waited = (now - since).total_seconds()
    if waited >= policy.horizon:
        return None
    delay = min(policy.recheck_max, max(policy.recheck_min, waited / 2, exc.retry_after or 0.0))
    delay = min(delay * random.uniform(0.75, 1.25), policy.horizon - waited)  # noqa: S311 - jitter
    waiting = msgspec.structs.replace(run, waiting_for=exc.service, waiting_since=since, updated_at=now)
    log.warning(
        "run waits for an unavailable system",
        extra={"run_id": run.id, "system": exc.service, "waited_s": round(waited, 1), "next_check_s": round(delay, 1)},
    )
    return waiting, Effect(kind="zadd", key=outage_index(exc.service), member=run.id, score=now.timestamp() + delay)


def left_outage(run: QuoteToCashRun) -> tuple[QuoteToCashRun, Effect | None]:
    """The run without its waiting mark, and the effect that drops its index entry (None: not waiting)."""
    if run.waiting_for is None:
        return run, None
    cleared = msgspec.structs.replace(run, waiting_for=None, waiting_since=None)
    return cleared, Effect(kind="zrem", key=outage_index(run.waiting_for), member=run.id)


async def claim_due(
    redis: object, now: float, hold: float, drive: Callable[[str], Awaitable[object]], *, concurrency: int = 8
) -> int:
    """Drive every run whose check is due (claimed first, so two sweeping instances do not both
    drive it; a claim lasts `hold` s); at most `concurrency` at once. Returns how many were driven."""
    client: Any = redis
    claimed: list[str] = []
    for system in SYSTEMS:
        index = outage_index(system)
        for raw in await client.zrangebyscore(index, "-inf", now, start=0, num=500):
            run_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            if await client.eval(_CLAIM, 1, index, run_id, now, now + hold):
                claimed.append(run_id)
    gate = asyncio.Semaphore(concurrency)

    async def one(run_id: str) -> None:
        async with gate:
            try:
                await drive(run_id)
            except Exception:
                log.exception("outage recheck failed", extra={"run_id": run_id})

    await asyncio.gather(*(one(r) for r in claimed))
    return len(claimed)
