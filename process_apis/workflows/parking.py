"""Parking a run on an exception, and what a retry or replay writes: pure builders for the engine.

A failed gate parks the run (`failed`, exception `open`). A transient failure (its in-step retries
spent) whose reason's policy retries automatically parks it the same way and schedules a retry in
`fig:exc:auto-retry` after `backoff_seconds * 2**(failures-1)` with jitter; once the policy's
`max_attempts` failures are reached it dead-letters the run (`dead_lettered`, exception
`dead_lettered`) for a person to replay. A run has at most one exception
that is not settled: when a retried run fails again, its `retrying` exception goes back to open
(history `failed_again`) instead of a second one being opened, so redeliveries and retries never
multiply exceptions.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Protocol

import msgspec

from process_apis.errors import ProcessError
from process_apis.exceptions.classify import is_transient, reason_code
from process_apis.exceptions.model import ExceptionAction, ExceptionRecord, ExceptionStatus, exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import EXCEPTION_INDEX, exception_key
from process_apis.schemas import PARKED_STATES, QuoteToCashRun, RunState
from process_apis.workflows.metrics import daily
from process_apis.workflows.store import OPS_COUNTERS, Effect

__all__ = ["AUTO_RETRY_INDEX", "ParkableRun", "Parking", "counter", "last_good_state", "park"]

#: Runs due for an automatic retry (score = due time, epoch seconds).
AUTO_RETRY_INDEX = "fig:exc:auto-retry"

_encoder = msgspec.json.Encoder()


def counter(field: str, by: int = 1) -> Effect:
    return Effect(kind="hincrby", key=OPS_COUNTERS, member=field, score=float(by))


class Parking(msgspec.Struct, kw_only=True, frozen=True):
    """The parked run's state and exception changes: what to commit together."""

    state: RunState
    record: ExceptionRecord
    created: bool
    retry_at: float | None = None

    @property
    def write(self) -> tuple[str, bytes]:
        seq = int(self.record.id.rpartition("-")[2])
        return exception_key(self.record.run_id, seq), _encoder.encode(self.record)

    def effects(self) -> list[Effect]:
        record = self.record
        out = [
            counter(f"exceptions:{record.workflow}:{record.reason_code}:failures"),
            daily(f"failures:{record.workflow}", record.legal_entity, record.updated_at),
        ]
        if self.created:
            out.append(Effect(kind="zadd", key=EXCEPTION_INDEX, member=record.id, score=record.created_at.timestamp()))
            out.append(counter(f"exceptions:{record.workflow}:opened"))
        if record.status == "dead_lettered":
            out.append(counter(f"runs:{record.workflow}:dead_lettered"))
        if self.retry_at is not None:
            out.append(Effect(kind="zadd", key=AUTO_RETRY_INDEX, member=record.run_id, score=self.retry_at))
        return out


class ParkableRun(Protocol):
    """What parking reads of a run, of any workflow."""

    @property
    def id(self) -> str: ...
    @property
    def workflow(self) -> str: ...
    @property
    def exceptions(self) -> int: ...
    @property
    def correlation_id(self) -> str | None: ...


def park(
    run: ParkableRun,
    exc: ProcessError,
    *,
    gate: str | None,
    actor: str,
    now: datetime,
    policy: ExceptionPolicy,
    legal_entity: str | None,
    retrying: ExceptionRecord | None,
) -> Parking:
    """Where `exc` leaves the run: its new state and its (new or reopened) exception."""
    reason = reason_code(exc)
    rule = policy.for_reason(reason, run.workflow)
    failures = retrying.failures + 1 if retrying is not None and retrying.status == "retrying" else 1
    transient = is_transient(exc)
    automatic = transient and rule.retry.automatic and failures < rule.retry.max_attempts
    dead = transient and not automatic
    state: RunState = "dead_lettered" if dead else "failed"
    status: ExceptionStatus = "dead_lettered" if dead else "open"
    retry_at = None
    if automatic:
        delay = rule.retry.backoff_seconds * 2 ** (failures - 1)
        retry_at = now.timestamp() + random.uniform(delay / 2, delay)  # noqa: S311 - jitter, not security
    detail = f"{exc.problem_title}: {exc.detail}"
    if retrying is not None and retrying.status == "retrying":
        record = retrying.act(
            "failed_again",
            actor,
            now,
            status,
            note=detail,
            reason_code=reason,
            detail=detail,
            gate=gate,
            errors=exc.errors,
            failures=failures,
        )
        return Parking(state=state, record=record, created=False, retry_at=retry_at)
    record = ExceptionRecord(
        id=exception_id(run.id, run.exceptions + 1),
        workflow=run.workflow,
        run_id=run.id,
        reason_code=reason,
        detail=detail,
        owner_team=rule.owner_team,
        severity=rule.severity,
        status=status,
        retry_policy=rule.retry,
        policy_version=policy.version,
        sla_due_at=policy.sla_due(reason, now, run.workflow),
        created_at=now,
        updated_at=now,
        legal_entity=legal_entity,
        gate=gate,
        correlation_id=run.correlation_id,
        errors=exc.errors,
        history=[
            ExceptionAction(
                action="dead_lettered" if dead else "opened", actor=actor, at=now, to_status=status, note=detail
            )
        ],
    )
    return Parking(state=state, record=record, created=True, retry_at=retry_at)


def last_good_state(run: QuoteToCashRun) -> RunState:
    """The state a parked run continues from: the last gate it passed."""
    for gate in reversed(run.gates):
        if gate.gate not in PARKED_STATES:
            return gate.gate
    return "received"
