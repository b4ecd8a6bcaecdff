"""The process API's errors. Each one is a servicekit ProblemError, so it renders as problem+json.

ProcessError                      root of the package (500 unless a subclass says otherwise)
├── OpportunityNotFound     404   CRM has no such opportunity
├── OpportunityNotApproved  422   the opportunity is not won and approved
├── RunNotFound             404   no quote-to-cash run with that id
├── RunNotResumable         409   retry/replay of a run that is not failed or dead-lettered
├── RunNotAbandonable       409   abandoning a run that completed or was abandoned already
├── ManualReversalRequired  409   the ERP refused to close an abandoned run's order (an exception's reason)
├── ExceptionNotFound       404   no exception with that id
├── ExceptionConflict       409   the action does not apply to the exception's status
├── MappingInvalid          422   a new mapping set version does not validate
├── ControlNotFound         404   no mapping set or rule set (version) of that name
├── ValidationFailed        422   a control refused the run's input (mapping, currency, amounts)
├── RuleSetInvalid          422   a proposed rule set version does not validate
├── ProposalNotFound        404   no proposal with that id (or another entity's)
├── OwnProposal             403   the proposer tried to approve or reject their own proposal
├── ProposalDecided         409   the proposal was approved or rejected already
├── StaleProposal           409   what the proposal changes has changed since it was made
├── ProposalBusy            409   the exception's run is being advanced: approve again shortly
├── ApprovalRequired        409   four eyes: the change must be proposed and approved
├── DeadLetterNotFound      404   no dead letter with that id in that stream (or another entity's)
├── DeadLetterNotReplayable 409   the dead letter is not an event (undecodable) or was replayed meanwhile
└── DownstreamError               a system API call went wrong
    ├── DownstreamRejected      502   it answered 4xx: a business or contract refusal, not retried
    ├── DownstreamInvalid       502   it answered 2xx with a body that breaks the contract
    └── DownstreamUnavailable   503   5xx, 429, connect failure, timeout or open breaker: retried
"""

from __future__ import annotations

import math
from typing import Any

from servicekit import ProblemError

__all__ = [
    "ApprovalRequired",
    "ControlNotFound",
    "DeadLetterNotFound",
    "DeadLetterNotReplayable",
    "DownstreamError",
    "DownstreamInvalid",
    "DownstreamRejected",
    "DownstreamUnavailable",
    "ExceptionConflict",
    "ExceptionNotFound",
    "ManualReversalRequired",
    "MappingInvalid",
    "OpportunityNotApproved",
    "OpportunityNotFound",
    "OverridesInvalid",
    "OwnProposal",
    "ProcessError",
    "ProposalBusy",
    "ProposalDecided",
    "ProposalNotFound",
    "RuleSetInvalid",
    "RunNotAbandonable",
    "RunNotFound",
    "RunNotResumable",
    "StaleProposal",
    "UnknownLegalEntity",
    "ValidationFailed",
]


class ProcessError(ProblemError):
    """Root of the process API's errors."""


class OpportunityNotFound(ProcessError):
    status, slug, title = 404, "opportunity-not-found", "Opportunity not found"


class OpportunityNotApproved(ProcessError):
    status, slug, title = 422, "opportunity-not-approved", "Opportunity not approved"


class RunNotFound(ProcessError):
    status, slug, title = 404, "run-not-found", "Run not found"


class RunNotResumable(ProcessError):
    status, slug, title = 409, "run-not-resumable", "Run cannot be retried or replayed"


class RunNotAbandonable(ProcessError):
    status, slug, title = 409, "run-not-abandonable", "Run cannot be abandoned"


class ManualReversalRequired(ProcessError):
    status, slug, title = 409, "manual-reversal-required", "Manual reversal required"


class ExceptionNotFound(ProcessError):
    status, slug, title = 404, "exception-not-found", "Exception not found"


class ExceptionConflict(ProcessError):
    status, slug, title = 409, "exception-state-conflict", "Action does not apply to the exception's status"


class MappingInvalid(ProcessError):
    status, slug, title = 422, "mapping-invalid", "Mapping set invalid"


class ControlNotFound(ProcessError):
    status, slug, title = 404, "control-not-found", "Control not found"


class UnknownLegalEntity(ProcessError):
    status, slug, title = 422, "unknown-legal-entity", "Unknown legal entity"


class ValidationFailed(ProcessError):
    status, slug, title = 422, "validation-failed", "Validation failed"


class RuleSetInvalid(ProcessError):
    status, slug, title = 422, "rule-set-invalid", "Rule set invalid"


class OverridesInvalid(ProcessError):
    status, slug, title = 422, "overrides-invalid", "Overridden values invalid"


class ProposalNotFound(ProcessError):
    status, slug, title = 404, "proposal-not-found", "Proposal not found"


class OwnProposal(ProcessError):
    status, slug, title = 403, "own-proposal", "A proposal needs a second person"


class ProposalDecided(ProcessError):
    status, slug, title = 409, "proposal-decided", "Proposal already decided"


class ProposalBusy(ProcessError):
    status, slug, title = 409, "proposal-busy", "Proposal target busy"


class StaleProposal(ProcessError):
    status, slug, title = 409, "stale-proposal", "Proposal is stale"


class ApprovalRequired(ProcessError):
    status, slug, title = 409, "approval-required", "Approval required"


class DeadLetterNotFound(ProcessError):
    status, slug, title = 404, "dead-letter-not-found", "Dead letter not found"


class DeadLetterNotReplayable(ProcessError):
    status, slug, title = 409, "dead-letter-not-replayable", "Dead letter cannot be replayed"


class DownstreamError(ProcessError):
    """A call to a system API failed; `service` names it and `downstream_status` is its HTTP status."""

    status, slug, title = 502, "downstream-error", "Downstream error"

    def __init__(self, detail: str, *, service: str, downstream_status: int | None = None, **kw: Any) -> None:
        extensions = {"service": service, **({"downstream_status": downstream_status} if downstream_status else {})}
        super().__init__(detail, extensions={**extensions, **(kw.pop("extensions", None) or {})}, **kw)
        self.service = service
        self.downstream_status = downstream_status


class DownstreamRejected(DownstreamError):
    status, slug, title = 502, "downstream-rejected", "Downstream rejected the request"


class DownstreamInvalid(DownstreamError):
    status, slug, title = 502, "downstream-invalid-response", "Downstream answered outside its contract"


class DownstreamUnavailable(DownstreamError):
    """`retry_after` is the downstream's throttle signal (its `Retry-After`, in seconds), if it sent one."""

    status, slug, title = 503, "downstream-unavailable", "Downstream unavailable"

    def __init__(self, detail: str, *, service: str, retry_after: float | None = None, **kw: Any) -> None:
        # A caller that gets this 503 is told when to come back: the downstream's wait, at least 1 s.
        kw.setdefault("headers", {"Retry-After": str(max(1, math.ceil(retry_after or 1)))})
        super().__init__(detail, service=service, **kw)
        self.retry_after = retry_after
