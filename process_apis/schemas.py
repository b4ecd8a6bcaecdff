"""The process API's wire types: the start command and the quote-to-cash run resource."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from contracts import EntityCode, ProblemFieldError

__all__ = [
    "PARKED_STATES",
    "TERMINAL_STATES",
    "Gate",
    "PlanningOutcome",
    "QuoteToCashRun",
    "RunError",
    "RunOverrides",
    "RunState",
    "RunStatus",
    "StartQuoteToCash",
    "status_of",
]

OpportunityId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9]{1,40}$", description="Salesforce opportunity id", examples=["0068d00000DEMO2AAA"]
    ),
]

RunState = Literal[
    "received",
    "validated",
    "customer_resolved",
    "order_created",
    "order_booked",
    "forecast_committed",
    "completed",
    "failed",
    "dead_lettered",
]
RunStatus = Literal["running", "waiting", "completed", "failed", "dead_lettered"]
#: States a worker does not move on from: `failed` (parked on an exception) and `dead_lettered`
#: (retries spent) move again only by a retry of the exception or a replay of the run.
TERMINAL_STATES: frozenset[str] = frozenset({"completed", "failed", "dead_lettered"})
PARKED_STATES: frozenset[str] = frozenset({"failed", "dead_lettered"})


def status_of(state: RunState) -> RunStatus:
    """`waiting` while the ERP has not booked the order; `running` for every other open state."""
    if state in ("completed", "failed", "dead_lettered"):
        return state
    return "waiting" if state == "order_created" else "running"


class StartQuoteToCash(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Start (or find) the quote-to-cash run of one approved CRM opportunity."""

    opportunity_id: OpportunityId


class Gate(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One passed stage gate: the state the run entered, when, by whom, and why."""

    gate: RunState
    at: datetime
    actor: str
    detail: str
    correlation_id: str | None = None
    idempotency_key: str | None = None


class PlanningOutcome(msgspec.Struct, kw_only=True, frozen=True):
    """The planning platform's import of the run's committed bookings."""

    import_id: str
    task_id: str
    successful: bool
    rows_loaded: int
    rows_rejected: int


class RunError(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Why a run failed, in the problem+json vocabulary."""

    type: str
    title: str
    status: int
    detail: str
    gate: RunState | None = None
    service: str | None = None
    errors: list[ProblemFieldError] | None = None


class Compensation(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """What abandoning the run did about what it had created downstream (the compensating step).

    `order_closed`: the ERP order it created was closed; `reversal_required`: the ERP refused (the
    order is booked or further along), so `exception_id` asks order management for a manual
    reversal; `nothing_to_compensate`: no ERP order existed (or it was gone).
    """

    outcome: Literal["nothing_to_compensate", "order_closed", "reversal_required"]
    at: datetime
    actor: str
    detail: str
    erp_order_id: str | None = None
    exception_id: str | None = None


TaxJurisdiction = Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["US-NY"])]


class RunOverrides(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Values a second person approved for one run in place of what its validation found.

    `legal_entity`: book the deal's CRM region to this legal entity of the active mapping set (its
    subsidiary and currencies), for this run only. `tax_jurisdiction`: the jurisdiction confirmed
    for the deal's account where the CRM has none. A run keeps them for its later retries.
    """

    legal_entity: EntityCode | None = None
    tax_jurisdiction: TaxJurisdiction | None = None


class QuoteToCashRun(msgspec.Struct, kw_only=True, frozen=True):
    """A quote-to-cash run: one per opportunity (`id` = `q2c-<opportunity id>`)."""

    id: str
    opportunity_id: str
    state: RunState
    status: RunStatus
    mapping_version: str
    created_at: datetime
    updated_at: datetime
    workflow: Literal["quote_to_cash"] = "quote_to_cash"
    correlation_id: str | None = None
    legal_entity: str | None = None
    gates: list[Gate] = msgspec.field(default_factory=list)
    erp_customer_id: str | None = None
    erp_order_id: str | None = None
    erp_order_external_id: str | None = None
    planning: PlanningOutcome | None = None
    error: RunError | None = None
    rule_set_version: str | None = None
    #: How the run was started: by a client (`api`) or by the CRM approval event (`event`).
    origin: Literal["api", "event"] = "api"
    #: The run's current (or last) exception, `exc-<run id>-<n>`; `exceptions` counts them.
    exception_id: str | None = None
    exceptions: int = 0
    #: Set by a retry/replay: the gate the run failed at and now tries again (cleared once passed).
    resumed_at: RunState | None = None
    #: The system (`crm`, `erp`, `planning`) the run waits for at its gate while that system is
    #: unavailable, and since when; it moves on by itself when the system is back (cleared then).
    waiting_for: str | None = None
    waiting_since: datetime | None = None
    #: Set when the run was abandoned (`POST /v1/runs/{id}/abandon`); an abandoned run is not
    #: retried or replayed.
    compensation: Compensation | None = None
    #: The open ERP period the order is posted into instead of its close date's closed period (a
    #: person's choice on a `period_closed` exception); None: the close date's period.
    posting_period: str | None = None
    #: Overridden values a second person approved (a force-retry proposal); None: the controls decide.
    overrides: RunOverrides | None = None
    #: The ERP tax code id of each order line (in the deal's line order), resolved at validation
    #: from the account's tax jurisdiction and the line's item; None: not resolved (no jurisdiction).
    tax_code_ids: list[str] | None = None
    #: The W3C trace id of the run's trace (every drive of the run joins it): open it in the
    #: tracing tool; None when the run was started without trace context.
    trace_id: str | None = None
