"""The ops summary: what finance operations watch, computed from what Redis holds now.

Sources: the exception records (aging, SLA breaches, unposted orders, reconciliation breaks), the
counters the engine keeps in `fig:ops:counters` as runs change (orders created by origin,
reposts, completions), the index of runs waiting for ERP booking (forecast refresh lag), the
indexes of runs waiting out a system's outage (`runs_waiting_for`), the planning versions seen
(whether the committed-bookings version is published, which gates the planning figures), and the
`fig:ops:policy-violations` hash the system APIs increment on field-ownership refusals. Nothing is
estimated: a metric without data is null.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from process_apis.exceptions.model import ExceptionRecord
from process_apis.exceptions.store import ExceptionStore
from process_apis.ops.executive import ExecutiveMetrics, executive_metrics
from process_apis.ops.history import DailyFigures
from process_apis.versions import PublishedVersions, committed_version
from process_apis.workflows.outage import SYSTEMS, outage_index
from process_apis.workflows.store import WAITING_INDEX, read_counters, run_key

__all__ = ["POLICY_VIOLATIONS", "AgingBuckets", "OpsSummary", "summarise"]

POLICY_VIOLATIONS = "fig:ops:policy-violations"
_OPEN = ("open", "retrying", "dead_lettered")
#: Gates before which no ERP order exists: an exception there leaves an approved deal unposted.
_UNPOSTED_GATES = frozenset({"validated", "customer_resolved", "order_created"})
_BATCH = 500


class AgingBuckets(msgspec.Struct, kw_only=True, frozen=True):
    """Unsettled exceptions by age."""

    under_1h: int
    h1_to_4h: int
    h4_to_24h: int
    over_24h: int


class OpsSummary(msgspec.Struct, kw_only=True, frozen=True):
    """Operations metrics, optionally for one legal entity (`legal_entity`)."""

    as_of: datetime
    legal_entity: str | None
    orders_created: int
    orders_created_automatically: int
    share_of_automated_postings: Decimal | None
    #: ERP order posts that repeated an earlier post of the same opportunity (a replay or retry of
    #: `order_created`); each is an upsert on the deterministic external id, so none makes a second order.
    order_reposts: int
    #: order_reposts / all order posts.
    duplicate_posting_rate: Decimal | None
    runs_completed: int
    unposted_orders: int
    orders_awaiting_booking: int
    forecast_refresh_lag_seconds: float | None
    failed_customer_syncs: int
    open_exceptions: int
    exceptions_by_reason: dict[str, int]
    exception_aging: AgingBuckets
    sla_breaches: int
    reconciliation_exceptions_by_entity: dict[str, int]
    reconciliation_cycle_time_seconds: float | None
    policy_violations_by_flow: dict[str, int]
    #: Runs waiting at their gate for a system that is unavailable, by system (`erp`: "waiting for
    #: ERP"); they move on by themselves when it is back, and become exceptions only after the
    #: configured horizon. Systems no run waits for are left out. Counted over all legal entities.
    runs_waiting_for: dict[str, int] = msgspec.field(default_factory=dict)
    #: Approved deals whose quote-to-cash exception (before any ERP order existed) a person resolved
    #: without the run posting an order afterwards: no ERP order exists for them, so they stay
    #: visible here once they leave `unposted_orders` (which counts unsettled exceptions only).
    resolved_without_posting: int = 0
    #: Unsettled exceptions escalated past their SLA, in all and by escalation target (the owner
    #: team's target in the exception policy when the SLA passed).
    escalated_exceptions: int = 0
    escalations_by_target: dict[str, int] = msgspec.field(default_factory=dict)
    #: Executive metrics over the requested window of days (`from`/`to` or `period`), from the
    #: day-bucketed counters; each field's description gives its formula.
    executive: ExecutiveMetrics | None = None
    #: Each of the selected legal entities' figures as recorded per UTC day of the window (the
    #: scheduler's leader records them during the day; the day's last record stands), oldest first:
    #: the trends of unposted orders, open and aged exceptions, SLA breaches, duplicate postings,
    #: forecast lag and reconciliation breaks. Empty without a window (`period`, `from`, `to`).
    history: list[DailyFigures] = msgspec.field(default_factory=list)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ratio(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None


class _RunEntity(msgspec.Struct):
    """The one field of a stored run the summary reads (decode only what is used)."""

    legal_entity: str | None = None


_run_entity = msgspec.json.Decoder(_RunEntity)


class _GateName(msgspec.Struct):
    gate: str


class _RunPosting(msgspec.Struct):
    """What says whether a run posted an order: the gates it passed and its latest exception."""

    gates: list[_GateName] = msgspec.field(default_factory=list)
    exception_id: str | None = None


_run_posting = msgspec.json.Decoder(_RunPosting)


def _resolved_unposted(record: ExceptionRecord) -> bool:
    """A quote-to-cash exception before the order gate that a person closed (not the run passing it)."""
    return (
        record.workflow == "quote_to_cash"
        and record.status == "resolved"
        and record.gate in _UNPOSTED_GATES
        and bool(record.history)
        and record.history[-1].action == "resolved"
    )


async def _resolved_without_posting(redis: Any, records: list[ExceptionRecord]) -> int:
    """The runs of `records` (resolved, unposted) that are still without an ERP order.

    A run counts when the resolved exception is still its latest (a later replay that failed again
    is an open exception, counted in `unposted_orders`) and it never passed `order_created`.
    """
    counted = 0
    for start in range(0, len(records), _BATCH):
        batch = records[start : start + _BATCH]
        pipe = redis.pipeline(transaction=False)
        for record in batch:
            pipe.get(run_key(record.run_id))
        raws = await pipe.execute()
        for record, raw in zip(batch, raws, strict=True):
            if raw is None:
                continue
            run = _run_posting.decode(raw)
            if run.exception_id == record.id and all(g.gate != "order_created" for g in run.gates):
                counted += 1
    return counted


async def _waiting(redis: Any, entities: frozenset[str], index: str = WAITING_INDEX) -> list[float]:
    """The scores of the runs of `entities` in the run index `index` (by default: the runs waiting for
    ERP booking, scored by when they started to wait), lowest first."""
    members = await redis.zrange(index, 0, -1, withscores=True)
    since: list[float] = []
    for start in range(0, len(members), _BATCH):
        batch = members[start : start + _BATCH]
        # One GET per run in a pipeline, not MGET: the runs live in different cluster slots.
        pipe = redis.pipeline(transaction=False)
        for member, _ in batch:
            pipe.get(run_key(_text(member)))
        raws = await pipe.execute()
        since += [
            float(score)
            for (_, score), raw in zip(batch, raws, strict=True)
            if raw is not None and _run_entity.decode(raw).legal_entity in entities
        ]
    return since


async def summarise(
    redis: Any,
    now: datetime,
    legal_entity: str | None = None,
    *,
    entities: frozenset[str] | None = None,
    everything: bool = True,
    from_day: date | None = None,
    to_day: date | None = None,
) -> OpsSummary:
    """The summary as of `now` over the caller's `entities` (None: every entity), or only `legal_entity`.

    A caller limited to some entities gets the sums over those alone. Figures no entity owns count
    only for a caller cleared for every entity (`everything`): policy violations (always global),
    exceptions of no known entity (when no `legal_entity` is asked for). The executive metrics
    cover the UTC days `from_day`..`to_day` (both included; None: unbounded).
    """
    selected = frozenset({legal_entity}) if legal_entity is not None else entities
    everything = everything or entities is None

    def mine(entity: str | None) -> bool:
        if entity is None:
            return legal_entity is None and everything
        return selected is None or entity in selected

    counters = await read_counters(redis)

    def total(prefix: str, suffix: str = "") -> int:
        return sum(
            v
            for k, v in counters.items()
            if k.startswith(prefix) and k.endswith(suffix) and (selected is None or k.split(":")[2] in selected)
        )

    created = total("q2c:orders_created:")
    automated = total("q2c:orders_created:", ":event")
    reposts = total("q2c:order_reposts:")
    kept = await ExceptionStore(redis).all(
        lambda r: (r.status in _OPEN or _resolved_unposted(r)) and mine(r.legal_entity)
    )
    records = [r for r in kept if r.status in _OPEN]
    resolved_unposted = await _resolved_without_posting(redis, [r for r in kept if r.status not in _OPEN])
    if selected is None:
        awaiting = int(await redis.zcard(WAITING_INDEX))
        oldest = await redis.zrange(WAITING_INDEX, 0, 0, withscores=True)
        waiting_since = float(oldest[0][1]) if oldest else None
    else:
        since = await _waiting(redis, selected)
        awaiting, waiting_since = len(since), (since[0] if since else None)
    outage = await _waiting_for(redis, selected)
    violations: Counter[str] = Counter()
    if everything:
        for field, count in (await redis.hgetall(POLICY_VIOLATIONS)).items():
            violations[_text(field).split(":", 1)[0]] += int(count)
    if selected is None:
        recon_runs, recon_ms = counters.get("recon:runs", 0), counters.get("recon:cycle_ms", 0)
    else:
        recon_runs, recon_ms = total("recon:entity_runs:"), total("recon:entity_cycle_ms:")
    return OpsSummary(
        as_of=now,
        legal_entity=legal_entity,
        orders_created=created,
        orders_created_automatically=automated,
        share_of_automated_postings=_ratio(automated, created),
        order_reposts=reposts,
        duplicate_posting_rate=_ratio(reposts, created + reposts),
        runs_completed=total("q2c:completed:"),
        unposted_orders=sum(1 for r in records if r.workflow == "quote_to_cash" and r.gate in _UNPOSTED_GATES),
        orders_awaiting_booking=awaiting,
        forecast_refresh_lag_seconds=max(0.0, now.timestamp() - waiting_since) if waiting_since is not None else None,
        failed_customer_syncs=sum(1 for r in records if r.workflow == "customer_master_sync"),
        open_exceptions=len(records),
        exceptions_by_reason=dict(Counter(r.reason_code for r in records)),
        exception_aging=_aging(records, now),
        sla_breaches=sum(1 for r in records if r.sla_due_at < now),
        reconciliation_exceptions_by_entity=dict(
            Counter(r.legal_entity or "unknown" for r in records if r.workflow == "reconciliation")
        ),
        reconciliation_cycle_time_seconds=recon_ms / recon_runs / 1000 if recon_runs else None,
        policy_violations_by_flow=dict(violations),
        runs_waiting_for=outage,
        resolved_without_posting=resolved_unposted,
        escalated_exceptions=sum(1 for r in records if r.escalated_to is not None),
        escalations_by_target=dict(Counter(r.escalated_to for r in records if r.escalated_to is not None)),
        executive=executive_metrics(
            counters,
            admits=mine,
            from_day=from_day,
            to_day=to_day,
            committed=committed_version(await PublishedVersions.seen(redis)),
        ),
    )


async def _waiting_for(redis: Any, selected: frozenset[str] | None) -> dict[str, int]:
    """How many runs (of the `selected` entities; None: all) wait out each system's outage."""
    if selected is not None:
        counts = [len(await _waiting(redis, selected, outage_index(system))) for system in SYSTEMS]
        return {system: n for system, n in zip(SYSTEMS, counts, strict=True) if n}
    pipe = redis.pipeline(transaction=False)
    for system in SYSTEMS:
        pipe.zcard(outage_index(system))
    counts = await pipe.execute()
    return {system: int(n) for system, n in zip(SYSTEMS, counts, strict=True) if n}


def _aging(records: list[ExceptionRecord], now: datetime) -> AgingBuckets:
    ages = [now - r.created_at for r in records]
    hour = timedelta(hours=1)
    return AgingBuckets(
        under_1h=sum(1 for a in ages if a < hour),
        h1_to_4h=sum(1 for a in ages if hour <= a < 4 * hour),
        h4_to_24h=sum(1 for a in ages if 4 * hour <= a < 24 * hour),
        over_24h=sum(1 for a in ages if a >= 24 * hour),
    )
