"""The ERP package's errors, and their one translation to problem+json.

ErpError                  root: the ERP (NetSuite) or the connector to it failed or refused
├── ErpAuthError          NetSuite refused the token grant or a fresh token          → 502
├── ErpNotFound           404 (e.g. NONEXISTENT_ID)                                  → 404
├── ErpInvalidContent     400 refusing our data (INVALID_CONTENT; `path` says where) → 422
├── ErpMappingError       canonical input with no ERP equivalent (unknown currency)  → 422
├── ErpOrderNotClosable   a booked, fulfilled or billed order asked to close          → 409
├── ErpThrottled          429: still after the backoff retries, or a Retry-After too long to wait → 503
├── ErpUnavailable        unreachable, timed out, breaker open, or a 502/503/504     → 503
└── ErpUpstreamError      any other error status, or a body we cannot read           → 502

Each error carries NetSuite's `o:errorCode` (`code`) and `o:errorPath` (`path`) when there was
one, and `field`: the canonical field (e.g. `lines[0].item_id`) the path maps to; `retry_after`
is when NetSuite (its `Retry-After`) or our circuit breaker said to try again, passed on as the
503's `Retry-After` (at least 1 s: every 503 says when to come back).
"""

from __future__ import annotations

import math
from typing import Any

from litestar import Request, Response

from contracts import ProblemFieldError
from servicekit import (
    Conflict,
    NotFound,
    ProblemError,
    Unprocessable,
    UpstreamError,
    UpstreamUnavailable,
    problem_response,
)

__all__ = [
    "ErpAuthError",
    "ErpError",
    "ErpInvalidContent",
    "ErpMappingError",
    "ErpNotFound",
    "ErpOrderNotClosable",
    "ErpThrottled",
    "ErpUnavailable",
    "ErpUpstreamError",
    "erp_exception_handlers",
    "to_problem",
]


class ErpError(Exception):
    """Root of everything the ERP connector raises."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        code: str | None = None,
        path: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.detail = detail
        self.status = status
        self.code = code
        self.path = path
        self.field = field


class ErpAuthError(ErpError):
    """NetSuite refused our client assertion, or rejected a token it had just issued."""


class ErpNotFound(ErpError):
    """The record does not exist."""


class ErpInvalidContent(ErpError):
    """NetSuite refused the record data (400); `path`/`field` name the offending field."""


class ErpMappingError(ErpError):
    """The canonical input has no NetSuite equivalent (e.g. a currency the account lacks)."""


class ErpOrderNotClosable(ErpError):
    """The order is booked (approved) or further along: it is reversed by order management, not closed."""


class ErpThrottled(ErpError):
    """The account's concurrency limit kept answering 429 after every backoff retry."""


class ErpUnavailable(ErpError):
    """NetSuite could not be reached or did not answer in time."""


class ErpUpstreamError(ErpError):
    """NetSuite answered with an unexpected error status or an unreadable body."""


def _location(exc: ErpError) -> str:
    return exc.field or exc.path or "$"


def to_problem(exc: ErpError) -> ProblemError:
    """The problem+json error an ERP failure becomes at the system API's edge."""
    vendor = {k: v for k, v in (("erp_error_code", exc.code), ("erp_error_path", exc.path)) if v}
    extensions = vendor or None
    if isinstance(exc, ErpNotFound):
        return NotFound(exc.detail, code=exc.code, extensions=extensions)
    if isinstance(exc, ErpInvalidContent | ErpMappingError):
        return Unprocessable(
            exc.detail,
            slug="erp-rejected" if isinstance(exc, ErpInvalidContent) else "erp-mapping",
            title="Refused by the ERP" if isinstance(exc, ErpInvalidContent) else "No ERP equivalent",
            code=exc.code,
            errors=[ProblemFieldError(location=_location(exc), message=exc.detail)],
            extensions=extensions,
        )
    if isinstance(exc, ErpOrderNotClosable):
        return Conflict(exc.detail, slug="order-not-closable", title="Order cannot be closed", extensions=extensions)
    if isinstance(exc, ErpThrottled | ErpUnavailable):
        retry = {"Retry-After": str(max(1, math.ceil(exc.retry_after or 0)))}
        if isinstance(exc, ErpThrottled):
            return UpstreamUnavailable(
                exc.detail, slug="erp-throttled", title="ERP throttling", extensions=extensions, headers=retry
            )
        return UpstreamUnavailable(exc.detail, slug="erp-unavailable", title="ERP unavailable", headers=retry)
    return UpstreamError(exc.detail, slug="erp-error", title="ERP error", code=exc.code, extensions=extensions)


def _on_erp_error(request: Request[Any, Any, Any], exc: ErpError) -> Response[bytes]:
    problem = to_problem(exc)
    return problem_response(
        request,
        status=problem.status,
        slug=problem.problem_slug,
        title=problem.problem_title,
        detail=problem.detail,
        code=problem.code,
        errors=problem.errors,
        headers=problem.headers or None,
        extensions=problem.extensions,
    )


#: Router-level handlers: the one place ERP errors become problem+json.
erp_exception_handlers = {ErpError: _on_erp_error}
