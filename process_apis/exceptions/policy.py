"""The exception policy: owner team, severity, SLA and retry policy per reason code (versioned data).

Policies are JSON files in `process_apis/exceptions/policies/` named `<name>-v<n>.json`; the file's
`version` is recorded on every exception created under it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources
from typing import Annotated

import msgspec

from process_apis.exceptions.model import RetrySpec, Severity

__all__ = ["EscalationTarget", "ExceptionPolicy", "ReasonPolicy", "load_policy"]


EscalationTarget = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


class ReasonPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    owner_team: str
    severity: Severity
    sla_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 90)]
    retry: RetrySpec


class ExceptionPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """`reasons` apply to every workflow; `workflows` overrides some reasons for one workflow
    (e.g. `actuals_to_plan`), with the same fields and the same meaning."""

    version: str
    default: ReasonPolicy
    reasons: dict[str, ReasonPolicy]
    description: str = ""
    workflows: dict[str, dict[str, ReasonPolicy]] = msgspec.field(default_factory=dict)
    #: Who an exception past its SLA is escalated to, by owner team; teams not listed go to
    #: `default_escalation`.
    escalation: dict[str, EscalationTarget] = msgspec.field(default_factory=dict)
    default_escalation: EscalationTarget = "finance-operations-lead"

    def for_reason(self, reason_code: str, workflow: str | None = None) -> ReasonPolicy:
        """The rule of `reason_code` in `workflow`: its own override, else the common one, else the default."""
        override = self.workflows.get(workflow, {}).get(reason_code) if workflow is not None else None
        return override or self.reasons.get(reason_code, self.default)

    def escalation_for(self, owner_team: str) -> str:
        """The escalation target of `owner_team`."""
        return self.escalation.get(owner_team, self.default_escalation)

    def sla_due(self, reason_code: str, opened_at: datetime, workflow: str | None = None) -> datetime:
        return opened_at + timedelta(hours=self.for_reason(reason_code, workflow).sla_hours)


def load_policy(name: str = "exception-policy-v1") -> ExceptionPolicy:
    """Load and strictly decode `policies/<name>.json`; ValueError if missing or invalid."""
    resource = resources.files("process_apis.exceptions.policies").joinpath(f"{name}.json")
    try:
        return msgspec.json.decode(resource.read_bytes(), type=ExceptionPolicy, strict=True)
    except FileNotFoundError:
        raise ValueError(f"no exception policy {name!r} in process_apis/exceptions/policies/") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"exception policy {name!r} is invalid: {exc}") from None
