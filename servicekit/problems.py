"""Every error becomes RFC 9457 problem+json, translated at this one boundary.

Redis unreachable, timing out, still loading its data or read-only (a replica during failover) is a
known failure mode, not a bug: 503 `dependency-unavailable` with `Retry-After`, for every service,
wherever in a handler the Redis call was made.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError

from contracts import Problem, ProblemFieldError, problem_type
from contracts.headers import PROBLEM_JSON
from servicekit.context import current_correlation_id
from servicekit.errors import UNAVAILABLE_RETRY_AFTER, ProblemError

__all__ = ["DEPENDENCY_RETRY_AFTER", "exception_handlers", "problem_of", "problem_response"]

#: Seconds a caller is told to wait when a dependency (Redis) is down: about one reconnect attempt.
DEPENDENCY_RETRY_AFTER = UNAVAILABLE_RETRY_AFTER

log = logging.getLogger("servicekit.problems")

_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    429: ("rate-limited", "Too many requests"),
    503: ("unavailable", "Service unavailable"),
}


def problem_response(
    request: Request[Any, Any, Any] | None,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    code: str | None = None,
    errors: list[ProblemFieldError] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[bytes]:
    body = Problem(
        type=problem_type(slug),
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else None,
        correlation_id=current_correlation_id() or _scope_correlation_id(request),
        code=code,
        errors=errors,
        extensions=extensions,
    )
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def problem_of(error: ProblemError, *, instance: str | None, correlation_id: str | None) -> Problem:
    """The RFC 9457 body of `error`: the one mapping from the error hierarchy to the wire shape.

    Used by the Litestar exception handler and by code that answers outside Litestar (the
    gateway's raw-ASGI fast path)."""
    return Problem(
        type=problem_type(error.problem_slug),
        title=error.problem_title,
        status=error.status,
        detail=error.detail,
        instance=instance,
        correlation_id=correlation_id,
        code=error.code,
        errors=error.errors,
        extensions=error.extensions,
    )


def _scope_correlation_id(request: Request[Any, Any, Any] | None) -> str | None:
    # Errors raised inside middleware are rendered after the correlation context was left.
    if request is None:
        return None
    value = request.scope.get("state", {}).get("correlation_id")
    return value if isinstance(value, str) else None


def _validation_errors(extra: Any) -> list[ProblemFieldError] | None:
    if isinstance(extra, list):
        found = []
        for item in extra:
            if isinstance(item, dict):
                where = str(item.get("key") or item.get("source") or "body")
                found.append(ProblemFieldError(location=where, message=str(item.get("message", ""))))
        return found or None
    return None


def _on_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[bytes]:
    cid = current_correlation_id() or _scope_correlation_id(request)
    return Response(
        content=msgspec.json.encode(problem_of(exc, instance=request.url.path, correlation_id=cid)),
        status_code=exc.status,
        media_type=PROBLEM_JSON,
        headers=exc.headers or None,
    )


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    slug, title = _STATUS_SLUGS.get(status, ("http-error", "HTTP error"))
    errors = None
    if isinstance(exc, ValidationException):
        slug, title = "invalid-request", "Invalid request"
        errors = _validation_errors(exc.extra)
    detail = exc.detail if isinstance(exc.detail, str) else title
    if status == 404 and detail == "Not Found":
        detail = f"No resource at {request.url.path}"
    return problem_response(
        request,
        status=status,
        slug=slug,
        title=title,
        detail=detail,
        errors=errors,
        headers=dict(exc.headers) if exc.headers else None,
    )


def _on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        request,
        status=500,
        slug="internal-error",
        title="Internal error",
        detail="The service failed to handle this request; quote the correlation id to the operators.",
    )


def _on_dependency_down(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.warning("redis unavailable", extra={"path": request.url.path, "error": f"{type(exc).__name__}: {exc}"})
    return problem_response(
        request,
        status=503,
        slug="dependency-unavailable",
        title="Dependency unavailable",
        detail="The service's data store is unavailable; retry the request after the Retry-After seconds.",
        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
    )


exception_handlers: ExceptionHandlersMap = {
    RedisConnectionError: _on_dependency_down,
    RedisTimeoutError: _on_dependency_down,
    ReadOnlyError: _on_dependency_down,
    ProblemError: _on_problem,
    HTTPException: _on_http,
    Exception: _on_unhandled,
}
