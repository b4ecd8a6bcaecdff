"""OAuth 2.0 token-endpoint errors (RFC 6749 section 5.2): `{"error", "error_description"}` bodies.

The token endpoint speaks OAuth, not problem+json, because OAuth clients parse this shape.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response

__all__ = [
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "OAuthError",
    "TooManyAttempts",
    "UnauthorizedClient",
    "UnsupportedGrantType",
]

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """Root of the token endpoint's refusals; `to_response()` renders the RFC 6749 body."""

    error = "invalid_request"
    status = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def headers(self) -> dict[str, str]:
        return dict(_NO_STORE)

    def to_response(self) -> Response[bytes]:
        body: dict[str, Any] = {"error": self.error, "error_description": self.description}
        return Response(
            content=msgspec.json.encode(body),
            status_code=self.status,
            media_type="application/json",
            headers=self.headers(),
        )


class InvalidRequest(OAuthError):
    error, status = "invalid_request", 400


class InvalidClient(OAuthError):
    error, status = "invalid_client", 401

    def headers(self) -> dict[str, str]:
        return {**_NO_STORE, "WWW-Authenticate": 'Basic realm="fig-idp", charset="UTF-8"'}


class InvalidScope(OAuthError):
    error, status = "invalid_scope", 400


class UnsupportedGrantType(OAuthError):
    error, status = "unsupported_grant_type", 400


class InvalidGrant(OAuthError):
    """A code or refresh token that is unknown, used, expired, or not this client's (RFC 6749 5.2)."""

    error, status = "invalid_grant", 400


class UnauthorizedClient(OAuthError):
    error, status = "unauthorized_client", 400


class TooManyAttempts(OAuthError):
    """Too many failed authentications for this client or source address: 429 with Retry-After."""

    error, status = "temporarily_unavailable", 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed authentications for this client or source address; retry in {retry_after} s."
        )
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {**_NO_STORE, "Retry-After": str(self.retry_after)}
