"""Which reason code a workflow failure is: the key into the exception policy."""

from __future__ import annotations

from process_apis.errors import DownstreamUnavailable, ProcessError

__all__ = ["REASON_BY_LOCATION", "is_transient", "reason_code"]

#: Validation violations by the JSON path they point at (first match of the first violation wins).
REASON_BY_LOCATION: tuple[tuple[str, str], ...] = (
    ("$.region", "unmapped_region"),
    ("$.amount.currency", "unsupported_currency"),
    ("$.account.tax_jurisdiction", "missing_tax_jurisdiction"),
    ("$.amount.amount", "amount_mismatch"),
    ("$.approval_status", "not_approved"),
)

_BY_SLUG = {
    "planning-rejected": "planning_rejected",
    "field-ownership": "field_ownership",
    "downstream-rejected": "downstream_rejected",
    "downstream-invalid-response": "downstream_rejected",
    "downstream-unavailable": "downstream_unavailable",
}


def is_transient(exc: ProcessError) -> bool:
    """A failure that may pass by itself (retries spent): the run is dead-lettered, not parked."""
    return isinstance(exc, DownstreamUnavailable)


def reason_code(exc: ProcessError) -> str:
    """The policy reason of a failure: validation violations by location, others by problem slug."""
    if exc.problem_slug == "validation-failed" and exc.errors:
        location = exc.errors[0].location
        for prefix, reason in REASON_BY_LOCATION:
            if location == prefix:
                return reason
        if location.endswith(".product_code"):
            return "unmapped_product"
        if location.endswith(".tax_code"):
            return "unknown_tax_code"
        return "missing_dimension"
    return _BY_SLUG.get(exc.problem_slug, exc.problem_slug.replace("-", "_"))
