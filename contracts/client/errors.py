"""problem+json answers as typed exceptions, and the deprecation warning.

ApiError                     any non-2xx answer; `.problem` is the decoded problem+json (if any)
├── BadRequest         400
├── Unauthorized       401   (after one token refresh)
├── Forbidden          403
├── NotFound           404
├── Conflict           409   e.g. an Idempotency-Key in flight or reused with another body
├── Unprocessable      422
├── RateLimited        429   `.retry_after` seconds, when the server said
└── ServerError        5xx
TransportError               no HTTP answer (connect/read failure) after the safe retries
"""

from __future__ import annotations

import msgspec

from contracts.problem import Problem

__all__ = [
    "ApiDeprecationWarning",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "error_for",
]


class ApiDeprecationWarning(DeprecationWarning):
    """The server marked the called API version deprecated (`Deprecation`) or set its `Sunset`."""


class TransportError(Exception):
    """The request got no HTTP answer after the retries that were safe to make."""


class ApiError(Exception):
    """A non-2xx answer. `problem` is the problem+json body when the server sent one."""

    def __init__(self, status: int, problem: Problem | None, correlation_id: str | None, body: bytes = b"") -> None:
        self.status = status
        self.problem = problem
        self.correlation_id = correlation_id or (problem.correlation_id if problem else None)
        self.body = body
        what = f"{problem.title}: {problem.detail}" if problem else body[:200].decode("utf-8", "replace")
        super().__init__(f"HTTP {status} {what} (correlation id {self.correlation_id})")

    @property
    def type(self) -> str | None:
        """The problem type URI, e.g. `https://fig.dev/problems/opportunity-not-approved`."""
        return self.problem.type if self.problem else None


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Unprocessable(ApiError):
    pass


class RateLimited(ApiError):
    retry_after: float | None = None


class ServerError(ApiError):
    pass


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    429: RateLimited,
}


def error_for(status: int, content_type: str, body: bytes, correlation_id: str | None) -> ApiError:
    """The typed error of one answer; the problem body is decoded when it is problem+json."""
    problem = None
    if "json" in content_type:
        try:
            problem = msgspec.json.decode(body, type=Problem)
        except msgspec.DecodeError:
            problem = None
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return cls(status, problem, correlation_id, body)
