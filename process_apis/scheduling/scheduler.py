"""The scheduler: one leader across process API instances runs the configured schedules.

    fig:sched:{sched}:leader   the leader lease (scheduling/leader.py)
    fig:sched:{sched}:state    schedule name -> JSON ScheduleState (last run, next run)
    fig:sched:{sched}:closes   entity/period pairs the ERP reported closed, not yet reconciled
    fig:sched:{sched}:closed   entity/period pairs known to be closed (by event or by the check)

Every instance ticks; only the one holding the lease runs anything, and its state writes are
fenced by the lease, so a deposed leader cannot overwrite its successor's record. A schedule is
due when its `next_run_at` has passed; a reconciliation schedule reconciles every legal entity of
the active mapping set for its periods, and, with `after_period_close`, an entity's period as soon
as the ERP's change feed reports it closed (the event handler records the pair; the leader runs it
on its next tick). A period watch reads every entity's closed periods from the ERP, the net for a
lost close event: a close not known yet is handled as the event would have been (actuals loaded,
a run refused while the period was open retried, the period reconciled); its first run only
records the periods closed already. A reference sync runs the `reference_sync` flow
(scheduling/reference.py). Every `version_watch` seconds the leader also reads the planning
versions and records publications (versions/ledger.py); a leader that takes over reads them on its
first tick. The
jobs are idempotent (reconciliation breaks keep their exception across reruns), so a leader that
dies mid-job leaves nothing its successor cannot redo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

import msgspec

from process_apis.controls import ControlSource
from process_apis.errors import ProcessError
from process_apis.flows.reconciliation import StartReconciliation
from process_apis.flows.service import Flows
from process_apis.ops.history import figures_of, record_day
from process_apis.ops.summary import summarise
from process_apis.ports import ErpLedgerPort, ErpReferencePort, PlanningVersionsPort
from process_apis.scheduling.config import Schedule, Schedules, next_run, periods_of
from process_apis.scheduling.leader import LeaderLease
from process_apis.scheduling.reference import ReferenceSync
from process_apis.versions import PublishedVersions
from process_apis.workflows.store import RunBusy

__all__ = ["CLOSED_KEY", "CLOSES_KEY", "STATE_KEY", "RunResult", "ScheduleState", "Scheduler", "SchedulerErp"]

log = logging.getLogger("process_apis.scheduling")

STATE_KEY = "fig:sched:{sched}:state"
CLOSES_KEY = "fig:sched:{sched}:closes"
CLOSED_KEY = "fig:sched:{sched}:closed"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(dict[str, Any])

Trigger = Literal["schedule", "period_close"]


class RunResult(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What one scheduled run did for one subject (an entity's period, or the ERP's reference data)."""

    subject: str
    outcome: str
    legal_entity: str | None = None
    #: The reconciliation report or workflow run it produced.
    reference: str | None = None
    detail: str | None = None


class ScheduleState(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A schedule's stored record: when it runs next, and its last run."""

    next_run_at: datetime
    #: The timing the next run was computed from (`at` or `every_seconds`): a changed file recomputes it.
    timing: str
    runs: int = 0
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_status: Literal["ok", "failed"] | None = None
    last_trigger: Trigger | None = None
    results: list[RunResult] = msgspec.field(default_factory=list)
    #: Reference sync: the sequence number of its current run `ref-erp-<n>`.
    sequence: int = 0


_state_decoder = msgspec.json.Decoder(ScheduleState)


class SchedulerErp(ErpReferencePort, ErpLedgerPort, Protocol):
    """What the scheduler reads from the ERP: reference data and accounting periods."""


def _timing(schedule: Schedule) -> str:
    return f"at {schedule.at}" if schedule.at is not None else f"every {schedule.every_seconds}s"


class Scheduler:
    """Runs `schedules` while this instance leads (see the module docstring)."""

    def __init__(
        self,
        *,
        redis: Any,
        schedules: Schedules,
        flows: Flows,
        controls: ControlSource,
        erp: SchedulerErp,
        lease: LeaderLease,
        clock: Callable[[], datetime],
        versions: PublishedVersions | None = None,
        planning: PlanningVersionsPort | None = None,
        version_watch: float = 0.0,
        history_interval: float = 0.0,
    ) -> None:
        self.redis: Any = redis
        self.schedules = schedules
        self.flows = flows
        self.controls = controls
        self.lease = lease
        self.clock = clock
        self.erp = erp
        self.reference = ReferenceSync(erp=erp, controls=controls, redis=redis, clock=clock)
        self.versions, self.planning, self.version_watch = versions, planning, version_watch
        self._versions_due: datetime | None = None
        self.history_interval = history_interval
        self._history_due: datetime | None = None

    async def states(self) -> dict[str, ScheduleState]:
        raw = await self.redis.hgetall(STATE_KEY)
        out = {}
        for name, value in raw.items():
            key = name.decode() if isinstance(name, bytes) else str(name)
            out[key] = _state_decoder.decode(value)
        return out

    @property
    def follows_closes(self) -> bool:
        return any(s.enabled and s.after_period_close for s in self.schedules.schedules)

    async def period_closed(self, legal_entity: str, period: str) -> None:
        """The ERP reported `period` of `legal_entity` closed: reconcile it on the leader's next tick."""
        await self.redis.sadd(CLOSED_KEY, f"{legal_entity}/{period}")
        if self.follows_closes:
            await self.redis.zadd(CLOSES_KEY, {f"{legal_entity}/{period}": self.clock().timestamp()})

    async def tick(self) -> list[str]:
        """Run what is due if this instance leads; the names of the schedules that ran."""
        if not await self.lease.refresh():
            return []
        now = self.clock()
        states = await self.states()
        ran: list[str] = []
        for schedule in self.schedules.schedules:
            if not schedule.enabled:
                continue
            state = states.get(schedule.name)
            if state is None or state.timing != _timing(schedule):
                state = _retimed(schedule, state, now)
                if not await self._store(schedule.name, state):
                    return ran
            if state.next_run_at <= now:
                if not await self._run(schedule, state, "schedule", None):
                    return ran
                ran.append(schedule.name)
        await self._closes(ran)
        await self._watch_versions()
        await self._record_history()
        return ran

    async def _record_history(self) -> None:
        """Record each entity's ops figures of the day when due (the history behind trends over days)."""
        if self.history_interval <= 0:
            return
        now = self.clock()
        if self._history_due is not None and now < self._history_due:
            return
        self._history_due = now + timedelta(seconds=self.history_interval)
        mapping, _ = await self.controls.current()
        for entity in sorted({e.legal_entity for e in mapping.regions.values()}):
            summary = await summarise(self.redis, now, entity, entities=None, everything=True)
            await record_day(self.redis, figures_of(summary, entity, now))

    async def _watch_versions(self) -> None:
        """Record planning version publications when the watch is due (a failed read waits for the next)."""
        if self.versions is None or self.planning is None or self.version_watch <= 0:
            return
        now = self.clock()
        if self._versions_due is not None and now < self._versions_due:
            return
        self._versions_due = now + timedelta(seconds=self.version_watch)
        try:
            await self.versions.watch(self.planning, observer="scheduler:planning-versions")
        except ProcessError as exc:
            log.warning("planning versions not read", extra={"error": exc.detail})

    async def _closes(self, ran: list[str]) -> None:
        members = await self.redis.zrange(CLOSES_KEY, 0, -1)
        for raw in members:
            member = raw.decode() if isinstance(raw, bytes) else str(raw)
            entity, _, period = member.partition("/")
            for schedule in self.schedules.schedules:
                if schedule.enabled and schedule.kind == "reconciliation" and schedule.after_period_close:
                    state = (await self.states()).get(schedule.name) or _retimed(schedule, None, self.clock())
                    if not await self._run(schedule, state, "period_close", [(entity, period)]):
                        return
                    ran.append(schedule.name)
            await self.redis.zrem(CLOSES_KEY, member)

    async def _store(self, name: str, state: ScheduleState) -> bool:
        written = await self.lease.hset(STATE_KEY, name, _encoder.encode(state))
        if not written:
            log.warning("scheduler lost its lease; not recording", extra={"schedule": name})
        return written

    async def _run(
        self, schedule: Schedule, state: ScheduleState, trigger: Trigger, pairs: list[tuple[str, str]] | None
    ) -> bool:
        started = self.clock()
        sequence = state.sequence
        if schedule.kind == "reconciliation":
            results = await self._reconcile(schedule, pairs if pairs is not None else await self._pairs(schedule))
        elif schedule.kind == "period_watch":
            results = await self._watch(schedule, baseline=state.runs == 0)
        else:
            sequence, results = await self._sync(schedule, sequence)
        finished = self.clock()
        failed = any(r.outcome in ("failed", "error", "dead_lettered") for r in results)
        done = msgspec.structs.replace(
            state,
            runs=state.runs + 1,
            last_started_at=started,
            last_finished_at=finished,
            last_status="failed" if failed else "ok",
            last_trigger=trigger,
            results=results,
            sequence=sequence,
            next_run_at=next_run(schedule, started, started) if trigger == "schedule" else state.next_run_at,
        )
        log.info("scheduled run", extra={"schedule": schedule.name, "trigger": trigger, "failed": failed})
        return await self._store(schedule.name, done)

    async def _pairs(self, schedule: Schedule) -> list[tuple[str, str]]:
        mapping, _ = await self.controls.current()
        entities = sorted({e.legal_entity for e in mapping.regions.values()})
        return [(entity, period) for entity in entities for period in periods_of(schedule, self.clock())]

    async def _reconcile(self, schedule: Schedule, pairs: list[tuple[str, str]]) -> list[RunResult]:
        results: list[RunResult] = []
        for entity, period in pairs:
            subject = f"{entity}/{period}"
            if not await self.lease.refresh():
                results.append(
                    RunResult(subject=subject, legal_entity=entity, outcome="error", detail="lost the lease")
                )
                break
            tolerance = schedule.tolerance if schedule.tolerance is not None else Decimal("0.00")
            command = StartReconciliation(legal_entity=entity, period=period, tolerance=tolerance)
            try:
                report = await self.flows.reconcile(command, actor=f"scheduler:{schedule.name}", correlation_id=None)
            except (ProcessError, RunBusy) as exc:
                detail = exc.detail if isinstance(exc, ProcessError) else str(exc)
                results.append(RunResult(subject=subject, legal_entity=entity, outcome="failed", detail=detail))
                continue
            results.append(RunResult(subject=subject, legal_entity=entity, outcome=report.status, reference=report.id))
        return results

    async def _watch(self, schedule: Schedule, *, baseline: bool) -> list[RunResult]:
        """Handle the closed periods not known yet (all of them only recorded on the first run)."""
        mapping, _ = await self.controls.current()
        results: list[RunResult] = []
        for entity in sorted({e.legal_entity for e in mapping.regions.values()}):
            try:
                closed = await self.erp.periods(entity, "closed")
            except ProcessError as exc:
                results.append(RunResult(subject=entity, legal_entity=entity, outcome="failed", detail=exc.detail))
                continue
            for period in (p for p in closed if p.status == "closed"):
                subject = f"{entity}/{period.period}"
                if not await self.redis.sadd(CLOSED_KEY, subject) or baseline:
                    continue
                try:
                    run = await self.flows.period_closed(
                        entity, period.period, actor=f"scheduler:{schedule.name}", correlation_id=None
                    )
                except (ProcessError, RunBusy) as exc:
                    detail = exc.detail if isinstance(exc, ProcessError) else str(exc)
                    results.append(RunResult(subject=subject, legal_entity=entity, outcome="failed", detail=detail))
                    continue
                if self.follows_closes:
                    await self.redis.zadd(CLOSES_KEY, {subject: self.clock().timestamp()})
                results.append(
                    RunResult(
                        subject=subject,
                        legal_entity=entity,
                        outcome="closed",
                        reference=run.id,
                        detail=f"actuals run {run.status}",
                    )
                )
        return results

    async def _sync(self, schedule: Schedule, sequence: int) -> tuple[int, list[RunResult]]:
        """Run the reference sync; a failed previous sync is retried (one exception per problem)."""
        actor = f"scheduler:{schedule.name}"
        runner = self.flows.runner
        current = await runner.get(f"ref-erp-{sequence}") if sequence else None
        try:
            if current is not None and current.status in ("failed", "dead_lettered"):
                await runner.resume(current.id, actor=actor, note="scheduled reference sync")
                run_id = current.id
            else:
                sequence += 1
                run_id = f"ref-erp-{sequence}"
            run = await runner.execute(self.reference, run_id, subject="erp reference data", actor=actor)
        except (ProcessError, RunBusy) as exc:
            detail = exc.detail if isinstance(exc, ProcessError) else str(exc)
            return sequence, [RunResult(subject="erp reference data", outcome="failed", detail=detail)]
        outcome = run.error.detail if run.error is not None else run.gates[-1].detail
        return sequence, [RunResult(subject="erp reference data", outcome=run.status, reference=run.id, detail=outcome)]

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Tick every `interval` s until `stop`; give the lease back on the way out."""
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except Exception:
                    log.exception("scheduler tick failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)
        finally:
            with contextlib.suppress(Exception):
                await self.lease.release()


def _retimed(schedule: Schedule, state: ScheduleState | None, now: datetime) -> ScheduleState:
    """A schedule's state with `next_run_at` computed for its current timing (new or changed schedule)."""
    last = state.last_started_at if state is not None else None
    due = next_run(schedule, last, now)
    if state is None:
        return ScheduleState(next_run_at=due, timing=_timing(schedule))
    return msgspec.structs.replace(state, next_run_at=due, timing=_timing(schedule))
