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

__all__ = ["ExceptionPolicy", "ReasonPolicy", "load_policy"]


class ReasonPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    owner_team: str
    severity: Severity
    sla_hours: Annotated[float, msgspec.Meta(gt=0, le=24 * 90)]
    retry: RetrySpec


class ExceptionPolicy(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    version: str
    default: ReasonPolicy
    reasons: dict[str, ReasonPolicy]
    description: str = ""

    def for_reason(self, reason_code: str) -> ReasonPolicy:
        return self.reasons.get(reason_code, self.default)

    def sla_due(self, reason_code: str, opened_at: datetime) -> datetime:
        return opened_at + timedelta(hours=self.for_reason(reason_code).sla_hours)


def load_policy(name: str = "exception-policy-v1") -> ExceptionPolicy:
    """Load and strictly decode `policies/<name>.json`; ValueError if missing or invalid."""
    resource = resources.files("process_apis.exceptions.policies").joinpath(f"{name}.json")
    try:
        return msgspec.json.decode(resource.read_bytes(), type=ExceptionPolicy, strict=True)
    except FileNotFoundError:
        raise ValueError(f"no exception policy {name!r} in process_apis/exceptions/policies/") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"exception policy {name!r} is invalid: {exc}") from None
