"""Runs a workflow's explicit state machine: named gates in order, each step idempotent.

A machine lists its gates (`received` is implicit, `completed` ends it) and does one gate's work in
`step()`. The runner holds the run's lease and commits the gates one execution passed together when
it ends (run keys `fig:flow:{<run id>}:...`); on a ProcessError it parks the run with an exception
in that commit (workflows/parking.py), exactly like quote-to-cash. `Skip` ends a run that has nothing to do
(a change already applied, a customer not in the ERP yet) as `skipped`. Executing a run id that
exists returns the stored run unless it is still open, so a redelivered event does nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import msgspec

from contracts import problem_type
from process_apis.actors import is_manual
from process_apis.errors import DownstreamError, ProcessError, RunNotFound, RunNotResumable
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import ExceptionStore, exception_key
from process_apis.flows.model import FlowGate, FlowRun
from process_apis.schemas import RunError
from process_apis.workflows.metrics import daily, since_period_end_ms
from process_apis.workflows.parking import counter, park
from process_apis.workflows.store import Effect, Lease, RunStore

__all__ = ["FlowMachine", "FlowRunner", "Skip", "StepResult"]

log = logging.getLogger("process_apis.flows")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FlowRun)
_DONE = frozenset({"completed", "skipped", "failed", "dead_lettered"})


class Skip(Exception):
    """The run has nothing (more) to do; the message says why."""


@dataclass(frozen=True)
class StepResult:
    detail: str
    result: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    legal_entity: str | None = None


@dataclass
class _Pending:
    """What one execution's gates commit together: effects, and further keys of the run's slot."""

    effects: list[Effect] = field(default_factory=list)
    writes: list[tuple[str, bytes]] = field(default_factory=list)


class FlowMachine(Protocol):
    """One workflow: its name, its gates in order (after `received`), and each gate's work."""

    workflow: str
    gates: tuple[str, ...]

    async def step(self, run: FlowRun, gate: str, scratch: dict[str, Any]) -> StepResult:
        """Do the work of `gate`; `scratch` carries data between gates of one execution."""
        ...


class FlowRunner:
    def __init__(
        self, redis: Any, *, policy: ExceptionPolicy, clock: Callable[[], datetime], lock_ttl: float = 10.0
    ) -> None:
        self.store = RunStore(redis, prefix="fig:flow", lock_ttl=lock_ttl)
        self.redis: Any = redis
        self.exceptions = ExceptionStore(redis)
        self.policy = policy
        self.clock = clock

    def _run_key(self, run_id: str) -> str:
        return f"fig:flow:{{{run_id}}}:run"

    async def get(self, run_id: str) -> FlowRun | None:
        raw = await self.redis.get(self._run_key(run_id))
        return _decoder.decode(raw) if raw is not None else None

    async def execute(
        self,
        machine: FlowMachine,
        run_id: str,
        *,
        subject: str,
        actor: str,
        correlation_id: str | None = None,
        legal_entity: str | None = None,
        scratch: dict[str, Any] | None = None,
        wait: float = 5.0,
    ) -> FlowRun:
        """Run (or continue) `run_id` through `machine` as far as it goes; returns the stored run."""
        scratch = scratch if scratch is not None else {}
        pending = _Pending()
        async with self.store.lease(run_id, wait=wait, read=True) as lease:
            run = _decoder.decode(lease.run) if lease.run is not None else None
            if run is not None and run.status in _DONE:
                return run
            if run is None:
                now = self.clock()
                run = FlowRun(
                    id=run_id,
                    workflow=machine.workflow,
                    subject=subject,
                    state="received",
                    status="running",
                    created_at=now,
                    updated_at=now,
                    legal_entity=legal_entity,
                    correlation_id=correlation_id,
                    gates=[FlowGate(gate="received", at=now, actor=actor, detail=f"{subject} received",
                                    correlation_id=correlation_id)],
                )  # fmt: skip
                pending.effects.append(counter(f"runs:{machine.workflow}:started"))
                pending.effects.append(daily(f"runs:{machine.workflow}", legal_entity, now))
            # The gates of one execution commit together when it ends (completed, skipped or parked):
            # a crash before that redoes the steps, which are idempotent (keys downstream).
            while run.status == "running":
                run = await self._next(machine, run, pending, actor, scratch)
            await self._commit(run, lease, pending.effects, pending.writes)
        return run

    async def _next(
        self, machine: FlowMachine, run: FlowRun, pending: _Pending, actor: str, scratch: dict[str, Any]
    ) -> FlowRun:
        position = machine.gates.index(run.state) + 1 if run.state in machine.gates else 0
        gate = machine.gates[position] if position < len(machine.gates) else "completed"
        if gate == "completed":
            done = self._enter(run, "completed", actor, "all gates passed", status="completed")
            pending.effects.append(counter(f"runs:{machine.workflow}:completed"))
            if machine.workflow == "actuals_to_plan" and run.legal_entity is not None:
                # The subject is `<entity>/<period>`: the close cycle's first leg ends here.
                ms = since_period_end_ms(run.subject.rpartition("/")[2], done.updated_at)
                pending.effects.append(daily("actuals_loaded", run.legal_entity, done.updated_at))
                pending.effects.append(daily("actuals_ms", run.legal_entity, done.updated_at, ms))
            return done
        try:
            outcome = await machine.step(run, gate, scratch)
        except Skip as skip:
            skipped = self._enter(run, "skipped", actor, str(skip), status="skipped")
            pending.effects.append(counter(f"runs:{machine.workflow}:skipped"))
            return skipped
        except ProcessError as exc:
            return await self._park(run, gate, exc, pending, actor)
        nxt = self._enter(
            run,
            gate,
            actor,
            outcome.detail,
            key=outcome.idempotency_key,
            result={**run.result, **outcome.result},
            legal_entity=outcome.legal_entity or run.legal_entity,
            resumed_at=None,
        )
        record = await self._exception(run) if run.resumed_at is not None else None
        if record is not None and record.status == "retrying":
            settled = record.act("auto_resolved", actor, self.clock(), "resolved", note=f"run passed {gate}")
            pending.writes.append(_write(settled))
        return nxt

    async def _exception(self, run: FlowRun) -> ExceptionRecord | None:
        return await self.exceptions.get(run.exception_id) if run.exception_id else None

    async def resume(self, run_id: str, *, actor: str, note: str | None = None) -> FlowRun:
        """Reopen a failed or dead-lettered run at its last good gate (its exception `retrying`).

        The caller then executes the machine again. Raises RunNotFound, RunNotResumable or RunBusy.
        """
        async with self.store.lease(run_id, wait=5.0) as lease:
            run = await self.get(run_id)
            if run is None:
                raise RunNotFound(f"There is no workflow run {run_id!r}.")
            if run.status not in ("failed", "dead_lettered"):
                raise RunNotResumable(f"Run {run_id} is {run.status}; only a failed run can be retried.")
            state = next((g.gate for g in reversed(run.gates) if g.gate not in ("failed", "dead_lettered")), "received")
            record = await self._exception(run)
            resumed = self._enter(
                run, state, actor, f"retry by {actor}: continues from {state}", status="running", error=None,
                resumed_at=record.gate if record else state,
            )  # fmt: skip
            writes = []
            if record is not None and record.status in ("open", "dead_lettered"):
                writes.append(_write(record.act("retry", actor, self.clock(), "retrying", note=note)))
            effects = [counter(f"runs:{run.workflow}:retry")]
            if is_manual(actor):  # a person's or client's retry (automatic ones are the sweep's)
                effects.append(daily(f"manual:{run.workflow}", run.legal_entity, resumed.updated_at))
            await self._commit(resumed, lease, effects, writes)
            return resumed

    async def _park(self, run: FlowRun, gate: str, exc: ProcessError, pending: _Pending, actor: str) -> FlowRun:
        retrying = await self._exception(run) if run.resumed_at is not None else None
        parking = park(
            run, exc, gate=gate, actor=actor, now=self.clock(), policy=self.policy,
            legal_entity=run.legal_entity, retrying=retrying,
        )  # fmt: skip
        error = RunError(
            type=problem_type(exc.problem_slug),
            title=exc.problem_title,
            status=exc.status,
            detail=exc.detail,
            service=exc.service if isinstance(exc, DownstreamError) else None,
            errors=exc.errors,
        )
        status = "dead_lettered" if parking.state == "dead_lettered" else "failed"
        parked = self._enter(
            run, parking.state, actor, f"{exc.problem_title}: {exc.detail}", status=status, error=error,
            exception_id=parking.record.id, exceptions=run.exceptions + int(parking.created), resumed_at=None,
        )  # fmt: skip
        pending.effects.extend(parking.effects())
        pending.writes.append(parking.write)
        log.info("flow parked", extra={"run_id": run.id, "reason": parking.record.reason_code})
        return parked

    def _enter(
        self, run: FlowRun, gate: str, actor: str, detail: str, *, key: str | None = None, **changes: Any
    ) -> FlowRun:
        now = self.clock()
        entry = FlowGate(
            gate=gate, at=now, actor=actor, detail=detail, correlation_id=run.correlation_id, idempotency_key=key
        )
        return msgspec.structs.replace(run, state=gate, updated_at=now, gates=[*run.gates, entry], **changes)

    async def _commit(
        self, run: FlowRun, lease: Lease, effects: Sequence[Effect], writes: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self.store.write(run.id, lease, [(self._run_key(run.id), _encoder.encode(run)), *(writes or [])], effects)


def _write(record: ExceptionRecord) -> tuple[str, bytes]:
    parsed = parse_exception_id(record.id)
    assert parsed is not None  # ids are built by exception_id()
    return exception_key(*parsed), _encoder.encode(record)
