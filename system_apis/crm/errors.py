"""The CRM package's errors and their one translation to problem+json.

CrmError                          root of everything the CRM system API and its connector raise
├── SalesforceError               Salesforce answered with an error array (status, errorCode, message)
│   ├── SalesforceAuthError       the token endpoint refused us, or a fresh session was refused again
│   ├── SalesforceNotFound        404 NOT_FOUND
│   ├── SalesforceQueryError      400 MALFORMED_QUERY / INVALID_FIELD / INVALID_TYPE ...
│   ├── SalesforceValidationError 400 a write's values refused (restricted picklist, email, required field)
│   ├── SalesforceLimitExceeded   403 REQUEST_LIMIT_EXCEEDED: the daily allocation is gone; never retried
│   └── SalesforceUnavailable     503 (still, after the transport's retries)
├── SalesforceUnreachable         no HTTP answer at all: connect failure, timeout, breaker open
├── SalesforceProtocolError       an answer Salesforce would not send (malformed JSON, missing fields)
├── CrmMappingError               a record the canonical model cannot express (unknown picklist value)
└── CrmValidationError            a canonical write the CRM cannot take (422, one entry per field)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from contracts import ProblemFieldError
from servicekit.errors import (
    NotFound,
    ProblemError,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "CrmError",
    "CrmMappingError",
    "CrmValidationError",
    "SalesforceAuthError",
    "SalesforceError",
    "SalesforceLimitExceeded",
    "SalesforceNotFound",
    "SalesforceProtocolError",
    "SalesforceQueryError",
    "SalesforceUnavailable",
    "SalesforceUnreachable",
    "SalesforceValidationError",
    "to_problem",
]


class CrmError(Exception):
    """Root of the CRM package's errors."""

    #: When Salesforce (its `Retry-After`) or our circuit breaker said to try again, in seconds.
    retry_after: float | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SalesforceError(CrmError):
    """An error answer from Salesforce; `error_code` is the vendor's `errorCode` (or OAuth `error`)."""

    def __init__(self, status: int, error_code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(f"Salesforce {status} {error_code}: {message}")
        self.status = status
        self.error_code = error_code
        self.vendor_message = message
        self.fields = list(fields)


class SalesforceAuthError(SalesforceError):
    """Authentication failed: bad client credentials, a refused JWT assertion, a session refused twice."""


class SalesforceNotFound(SalesforceError):
    """The record or resource does not exist."""


class SalesforceQueryError(SalesforceError):
    """Salesforce refused a SOQL query we built: a defect on our side, not the caller's."""


class SalesforceValidationError(SalesforceError):
    """Salesforce refused the values of a write; `fields` names the Salesforce fields at fault."""


class SalesforceLimitExceeded(SalesforceError):
    """The org's daily API allocation is exhausted. Stop and alert: retrying only burns more calls."""


class SalesforceUnavailable(SalesforceError):
    """Salesforce answered 503 even after backoff retries."""


class SalesforceUnreachable(CrmError):
    """No answer from Salesforce: connection refused, timed out, or the circuit breaker is open."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout


class SalesforceProtocolError(CrmError):
    """Salesforce's answer does not have the shape its API documents."""


class CrmMappingError(CrmError):
    """A Salesforce record cannot be expressed in the canonical model."""


class CrmValidationError(CrmError):
    """A canonical write refused on its values; `errors` are (JSON path, message) per field."""

    def __init__(self, message: str, errors: Sequence[tuple[str, str]], *, code: str | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors)
        self.code = code


#: What a 503 for an exhausted daily allocation tells callers: Salesforce sends no Retry-After, and
#: the rolling 24-hour allocation frees up gradually (the feed pauses about this long too).
LIMIT_RETRY_AFTER = 60.0


def _retry(exc: CrmError, default: float = 1.0) -> dict[str, str]:
    """A 503's `Retry-After`: what Salesforce or the breaker said, else `default`; at least 1 s."""
    return {"Retry-After": str(max(1, math.ceil(exc.retry_after if exc.retry_after is not None else default)))}


def to_problem(exc: CrmError) -> ProblemError:
    """The problem+json a CRM error becomes at the API boundary; every 503 says when to come back."""
    if isinstance(exc, CrmValidationError):
        return Unprocessable(
            exc.message,
            slug="crm-validation",
            title="CRM refused the values",
            code=exc.code,
            errors=[ProblemFieldError(location=loc, message=msg) for loc, msg in exc.errors],
        )
    if isinstance(exc, SalesforceNotFound):
        return NotFound(exc.vendor_message, code=exc.error_code)
    if isinstance(exc, SalesforceLimitExceeded):
        return UpstreamUnavailable(
            "Salesforce's daily API request allocation is exhausted (REQUEST_LIMIT_EXCEEDED); "
            "CRM reads resume when the rolling 24-hour allocation frees up.",
            slug="crm-limit-exceeded",
            title="CRM API allocation exhausted",
            code=exc.error_code,
            headers=_retry(exc, LIMIT_RETRY_AFTER),
        )
    if isinstance(exc, SalesforceUnavailable):
        return UpstreamUnavailable(
            f"Salesforce is unavailable: {exc.vendor_message}", code=exc.error_code, headers=_retry(exc)
        )
    if isinstance(exc, SalesforceUnreachable):
        if exc.timeout:
            return UpstreamTimeout(f"Salesforce did not answer in time: {exc.message}")
        return UpstreamUnavailable(f"Salesforce is unreachable: {exc.message}", code="UNREACHABLE", headers=_retry(exc))
    if isinstance(exc, SalesforceError):
        return UpstreamError(
            f"Salesforce refused the call with {exc.error_code} ({exc.status}): {exc.vendor_message}",
            code=exc.error_code,
        )
    return UpstreamError(f"Salesforce's answer could not be used: {exc.message}", code=type(exc).__name__)
