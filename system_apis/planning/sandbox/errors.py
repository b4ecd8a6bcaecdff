"""Errors in Anaplan's own shapes: the sandbox emulates the vendor, so no problem+json here.

Integration API errors answer `{"status": {"code": <http status>, "message": "..."}}`; the
authentication service answers `{"status": "FAILURE_BAD_CREDENTIAL", "statusMessage": "..."}`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.types import ExceptionHandlersMap

__all__ = ["AnaplanError", "AuthFailure", "vendor_error_handlers", "vendor_response"]

log = logging.getLogger("system_apis.planning.sandbox")

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class AnaplanError(Exception):
    """An Integration API error: HTTP `status` with Anaplan's `status` envelope."""

    def __init__(self, status: int, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


class AuthFailure(Exception):
    """An authentication-service refusal (bad credential, bad or expired token)."""

    def __init__(self, message: str, *, status: str = "FAILURE_BAD_CREDENTIAL", http_status: int = 401) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status


def vendor_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    body = {"status": {"code": status, "message": message}}
    return Response(
        content=msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _on_anaplan(_: Request[Any, Any, Any], exc: AnaplanError) -> Response[bytes]:
    return vendor_response(exc.status, exc.message, exc.headers)


def _on_auth(_: Request[Any, Any, Any], exc: AuthFailure) -> Response[bytes]:
    body = {"status": exc.status, "statusMessage": exc.message}
    return Response(content=msgspec.json.encode(body), status_code=exc.http_status, media_type="application/json")


def _on_http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    message = exc.detail if isinstance(exc.detail, str) else _REASONS.get(exc.status_code, "Error")
    return vendor_response(exc.status_code, message, exc.headers)


def _on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("sandbox error", extra={"path": request.url.path})
    return vendor_response(500, "Internal Server Error")


vendor_error_handlers: ExceptionHandlersMap = {
    AnaplanError: _on_anaplan,
    AuthFailure: _on_auth,
    HTTPException: _on_http,
    Exception: _on_unhandled,
}
