"""Errors in Salesforce's own wire shapes: the REST error array and the OAuth error object.

The sandbox emulates the vendor, so its errors are not problem+json: REST calls answer
`[{"message", "errorCode", "fields"}]`, the token endpoint `{"error", "error_description"}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

__all__ = [
    "ApiError",
    "OAuthError",
    "api_error_response",
    "encode",
    "sandbox_exception_handlers",
]

# Salesforce writes currency and number fields as JSON numbers.
_encoder = msgspec.json.Encoder(decimal_format="number")


def encode(value: Any) -> bytes:
    """JSON as Salesforce writes it (Decimal as a JSON number)."""
    return _encoder.encode(value)


class ApiError(Exception):
    """A REST API failure: rendered as a one-element error array with `status`."""

    def __init__(self, status: int, error_code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.fields = list(fields)


class OAuthError(Exception):
    """A token endpoint failure: `invalid_grant`, `invalid_client`, `invalid_request`, ..."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def api_error_response(
    status: int, error_code: str, message: str, fields: Sequence[str] = (), headers: dict[str, str] | None = None
) -> Response[bytes]:
    body: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields or status == 400:
        body["fields"] = list(fields)
    return Response(content=encode([body]), status_code=status, media_type="application/json", headers=headers)


def _on_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[bytes]:
    return api_error_response(exc.status, exc.error_code, exc.message, exc.fields)


def _on_oauth_error(_: Request[Any, Any, Any], exc: OAuthError) -> Response[bytes]:
    body = {"error": exc.error, "error_description": exc.description}
    return Response(content=encode(body), status_code=exc.status, media_type="application/json")


def _limit_info(request: Request[Any, Any, Any]) -> dict[str, str]:
    # A refusal by the router (unknown path, wrong method) never reaches the middleware that adds
    # `Sforce-Limit-Info`; Salesforce sends it on every REST answer, so the handler adds it here.
    state = getattr(request.app.state, "sf", None)
    if state is None or not request.scope.get("path", "").startswith("/services/"):
        return {}
    return {"Sforce-Limit-Info": state.usage.header()}


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 404:
        message = "The requested resource does not exist"
        return api_error_response(404, "NOT_FOUND", message, headers=_limit_info(request))
    if exc.status_code == 405:
        # The methods this path answers, as the router found them (`Allow`), in Salesforce's spelling.
        allowed = sorted({m.strip().upper() for m in (exc.headers or {}).get("allow", "").split(",") if m.strip()})
        allowed = [m for m in allowed if m != "OPTIONS"]
        return api_error_response(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {','.join(allowed)}",
            headers={"Allow": ", ".join(allowed), **_limit_info(request)},
        )
    if isinstance(exc, ValidationException) or exc.status_code == 400:
        return api_error_response(400, "JSON_PARSER_ERROR", str(exc.detail))
    return api_error_response(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail))


def _on_unhandled(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    return api_error_response(500, "UNKNOWN_EXCEPTION", f"An unexpected error occurred: {type(exc).__name__}")


sandbox_exception_handlers: dict[type[Exception] | int, Any] = {
    ApiError: _on_api_error,
    OAuthError: _on_oauth_error,
    HTTPException: _on_http,
    Exception: _on_unhandled,
}
