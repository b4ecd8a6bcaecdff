"""The run of a workflow other than quote-to-cash: one explicit state machine execution."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from process_apis.schemas import RunError

__all__ = ["FlowGate", "FlowRun", "FlowStatus"]

FlowStatus = Literal["running", "completed", "skipped", "failed", "dead_lettered"]


class FlowGate(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One passed gate: the state entered, when, by whom, why, and the step's idempotency key."""

    gate: str
    at: datetime
    actor: str
    detail: str
    correlation_id: str | None = None
    idempotency_key: str | None = None


class FlowRun(msgspec.Struct, kw_only=True, frozen=True):
    """A run of `workflow` (customer_master_sync, actuals_to_plan, reconciliation) about `subject`."""

    id: str
    workflow: str
    subject: str
    state: str
    status: FlowStatus
    created_at: datetime
    updated_at: datetime
    legal_entity: str | None = None
    correlation_id: str | None = None
    gates: list[FlowGate] = msgspec.field(default_factory=list)
    error: RunError | None = None
    exception_id: str | None = None
    exceptions: int = 0
    #: Set by a retry: the gate the run failed at and tries again (cleared once a gate passes).
    resumed_at: str | None = None
    #: What the run produced (references, counts), per workflow.
    result: dict[str, Any] = msgspec.field(default_factory=dict)
