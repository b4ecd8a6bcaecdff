"""The authentication service: `/token/authenticate`, `/token/refresh`, `/token/validate`."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from litestar import Request, get, post

from system_apis.planning.sandbox.errors import AuthFailure
from system_apis.planning.sandbox.store import Token
from system_apis.planning.sandbox.wire import json_body, store_of

__all__ = ["auth_handlers"]

CERTIFICATE_USER = "fig.certificate@example.com"


def _token_body(request: Request[Any, Any, Any], token: Token, message: str) -> dict[str, Any]:
    return {
        "meta": {"validationUrl": f"{str(request.base_url).rstrip('/')}/token/validate"},
        "status": "SUCCESS",
        "statusMessage": message,
        "tokenInfo": {
            "expiresAt": token.expires_ms,
            "tokenId": token.token_id,
            "tokenValue": token.value,
            "refreshTokenId": token.refresh_token_id,
        },
    }


def _basic_user(value: str, user: str, password: str) -> str:
    try:
        given_user, _, given_password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthFailure("Malformed Basic credentials") from None
    # Compare both parts in constant time so a timing probe learns nothing about either.
    ok_user = hmac.compare_digest(given_user.encode(), user.encode())
    ok_password = hmac.compare_digest(given_password.encode(), password.encode())
    if not (ok_user and ok_password):
        raise AuthFailure("Invalid username or password")
    return given_user


@post("/token/authenticate", operation_id="token_authenticate", status_code=201)
async def authenticate(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """HTTP Basic for the seeded user, or `CACertificate` (accepted without verifying the signature)."""
    store = store_of(request)
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    if kind == "Basic":
        user = _basic_user(value.strip(), store.settings.anaplan_user, store.settings.anaplan_password)
    elif kind == "CACertificate" and value.strip():
        body = await json_body(request)
        if not body.get("encodedData") or not body.get("encodedSignedData"):
            raise AuthFailure("Certificate authentication needs encodedData and encodedSignedData")
        user = CERTIFICATE_USER
    else:
        raise AuthFailure("No credentials: use Basic or CACertificate authorization")
    return _token_body(request, store.issue_token(user), "Login successful")


def _presented(request: Request[Any, Any, Any]) -> str:
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    if kind != "AnaplanAuthToken" or not value.strip():
        raise AuthFailure("Send Authorization: AnaplanAuthToken <token>", status="FAILURE_BAD_TOKEN")
    return value.strip()


@post("/token/refresh", operation_id="token_refresh", status_code=201, sync_to_thread=False)
def refresh(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """A new token for a still-valid one; the old one stops working."""
    token = store_of(request).refresh_token(_presented(request))
    if token is None:
        raise AuthFailure("The token is unknown or has expired", status="FAILURE_BAD_TOKEN")
    return _token_body(request, token, "Token refreshed")


@get("/token/validate", operation_id="token_validate", sync_to_thread=False)
def validate(request: Request[Any, Any, Any]) -> dict[str, Any]:
    token = store_of(request).valid_token(_presented(request))
    if token is None:
        raise AuthFailure("The token is unknown or has expired", status="FAILURE_BAD_TOKEN")
    return _token_body(request, token, "Token validated")


auth_handlers = [authenticate, refresh, validate]
