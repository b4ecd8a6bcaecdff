"""The exception record: one visible, owned, SLA-bound problem of one workflow run.

An exception is created when a run fails a gate (the run is parked) and changes only by actions
appended to its `history`, which is never rewritten: each action says who did it, when, and the
status it moved the exception from and to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from contracts import ProblemFieldError

__all__ = [
    "ExceptionAction",
    "ExceptionPage",
    "ExceptionRecord",
    "ExceptionStatus",
    "OwnerTeam",
    "RetrySpec",
    "Severity",
    "exception_id",
    "parse_exception_id",
]

ExceptionStatus = Literal["open", "retrying", "resolved", "dead_lettered"]
Severity = Literal["low", "medium", "high", "critical"]
ActionName = Literal[
    "opened", "failed_again", "retry", "replay", "resolved", "auto_resolved", "assigned", "dead_lettered"
]
OwnerTeam = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", examples=["finance-master-data"])]


def exception_id(run_id: str, seq: int) -> str:
    """`exc-<run id>-<n>`: the n-th exception of a run (a run has at most one open at a time)."""
    return f"exc-{run_id}-{seq}"


def parse_exception_id(value: str) -> tuple[str, int] | None:
    """(run id, n) of an exception id, or None if it is not one."""
    if not value.startswith("exc-"):
        return None
    run_id, _, seq = value[4:].rpartition("-")
    if not run_id or not seq.isdigit():
        return None
    return run_id, int(seq)


class RetrySpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """How a reason may be retried: automatically with backoff, or only by a person (manual)."""

    automatic: bool
    max_attempts: Annotated[int, msgspec.Meta(ge=1, le=20)]
    backoff_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)]


class ExceptionAction(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One entry of the append-only history: who did what, when, and the status change."""

    action: ActionName
    actor: str
    at: datetime
    from_status: ExceptionStatus | None = None
    to_status: ExceptionStatus
    note: str | None = None
    owner_team: str | None = None


class ExceptionRecord(msgspec.Struct, kw_only=True, frozen=True):
    """An exception of a workflow run, with its owner, severity, SLA and history."""

    id: str
    workflow: str
    run_id: str
    reason_code: str
    detail: str
    owner_team: str
    severity: Severity
    status: ExceptionStatus
    retry_policy: RetrySpec
    policy_version: str
    sla_due_at: datetime
    created_at: datetime
    updated_at: datetime
    legal_entity: str | None = None
    gate: str | None = None
    correlation_id: str | None = None
    failures: int = 1
    errors: list[ProblemFieldError] | None = None
    history: list[ExceptionAction] = msgspec.field(default_factory=list)
    #: Set once the exception is past its SLA unsettled: when, and to whom (the escalation target
    #: of its owner team in the exception policy). Kept after it is settled. Not a history action:
    #: the published action names are a closed set, and escalation is no one's decision.
    escalated_at: datetime | None = None
    escalated_to: str | None = None

    def act(
        self,
        action: ActionName,
        actor: str,
        at: datetime,
        status: ExceptionStatus,
        *,
        note: str | None = None,
        owner_team: str | None = None,
        **changes: object,
    ) -> ExceptionRecord:
        """A copy with one more history entry and the new status (history is only ever appended).

        `owner_team` (an assignment) changes the owner too.
        """
        if owner_team is not None:
            changes["owner_team"] = owner_team
        entry = ExceptionAction(
            action=action,
            actor=actor,
            at=at,
            from_status=self.status,
            to_status=status,
            note=note,
            owner_team=owner_team,
        )
        return msgspec.structs.replace(
            self,
            status=status,
            updated_at=at,
            history=[*self.history, entry],
            **changes,
        )


class ExceptionPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of exceptions; pass `next_cursor` back as `cursor` for the next one."""

    items: list[ExceptionRecord]
    next_cursor: str | None = None
