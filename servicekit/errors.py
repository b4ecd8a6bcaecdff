"""The error hierarchy of every service. Each error knows the problem+json it becomes.

ServiceError                      root; anything else escaping a handler is a 500
└── ProblemError                  carries status, problem type slug, title, detail
    ├── BadRequest          400   malformed or invalid input
    ├── Unauthorized        401   no or bad credentials
    ├── Forbidden           403   authenticated, not allowed
    ├── NotFound            404
    ├── Conflict            409   state does not allow it (field ownership, in-flight key)
    ├── Unprocessable       422   well-formed, but the business rules refuse it
    ├── TooManyRequests     429
    ├── UpstreamError       502   a platform or service answered wrongly
    ├── UpstreamUnavailable 503   a platform or service is down, throttling, or its breaker is open
    └── UpstreamTimeout     504
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from contracts import ProblemFieldError

__all__ = [
    "UNAVAILABLE_RETRY_AFTER",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "ProblemError",
    "ServiceError",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]


class ServiceError(Exception):
    """Root of the project's service errors."""


class ProblemError(ServiceError):
    """An error with a defined problem+json rendering."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        code: str | None = None,
        errors: Sequence[ProblemFieldError] | None = None,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problem_slug = slug or type(self).slug
        self.problem_title = title or type(self).title
        self.code = code
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extensions = dict(extensions) if extensions else None


class BadRequest(ProblemError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(ProblemError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(ProblemError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(ProblemError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(ProblemError):
    status, slug, title = 409, "conflict", "Conflict"


class Unprocessable(ProblemError):
    status, slug, title = 422, "unprocessable", "Unprocessable request"


class TooManyRequests(ProblemError):
    status, slug, title = 429, "rate-limited", "Too many requests"


class UpstreamError(ProblemError):
    status, slug, title = 502, "upstream-error", "Upstream error"


#: Seconds a 503 tells the caller to wait when nothing better is known (no upstream `Retry-After`).
UNAVAILABLE_RETRY_AFTER = 2


class UpstreamUnavailable(ProblemError):
    """503: something this service needs is unavailable. Always says when to come back: `Retry-After`
    (the caller's, else `UNAVAILABLE_RETRY_AFTER` seconds), as every published 503 documents."""

    status, slug, title = 503, "upstream-unavailable", "Upstream unavailable"

    def __init__(self, detail: str, *, headers: Mapping[str, str] | None = None, **kw: Any) -> None:
        given = dict(headers or {})
        if not any(name.lower() == "retry-after" for name in given):
            given["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
        super().__init__(detail, headers=given, **kw)


class UpstreamTimeout(ProblemError):
    status, slug, title = 504, "upstream-timeout", "Upstream timeout"
