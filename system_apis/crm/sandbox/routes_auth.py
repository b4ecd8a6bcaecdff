"""`POST /services/oauth2/token`: the client-credentials and JWT-bearer grants of a connected app."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from litestar import Request, Response, post

from system_apis.crm.sandbox.errors import OAuthError, encode
from system_apis.crm.sandbox.gate import apply_fault
from system_apis.crm.sandbox.settings import SalesforceSandboxSettings
from system_apis.crm.sandbox.state import SandboxState

__all__ = ["JWT_BEARER", "token"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce requires `exp` within three minutes; a little leeway for clock skew.
_MAX_LIFETIME = 180 + 5


def _basic_credentials(request: Request[Any, Any, Any]) -> tuple[str, str] | None:
    kind, _, value = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def _client_credentials(form: dict[str, str], request: Request[Any, Any, Any], settings: SalesforceSandboxSettings
                        ) -> None:  # fmt: skip
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if client_id is None:
        client_id, secret = _basic_credentials(request) or (None, None)
    if not client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if client_id != settings.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if not secret or not secrets.compare_digest(secret, settings.client_secret):
        raise OAuthError("invalid_client", "invalid client credentials")


def _numeric_date(value: object) -> float | None:
    """`exp` as Salesforce reads it: a JSON number, or a string of digits (simple-salesforce sends one)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip().isdigit():
        return float(value.strip())
    return None


def _jwt_bearer(assertion: str | None, settings: SalesforceSandboxSettings) -> None:
    if not assertion:
        raise OAuthError("invalid_request", "assertion is required for the jwt-bearer grant")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from None
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "invalid assertion: algorithm must be RS256")
    if settings.jwt_public_key_file:
        public_key = Path(settings.jwt_public_key_file).read_bytes()
        try:
            jwt.decode(assertion, public_key, algorithms=["RS256"], options={"verify_aud": False, "verify_exp": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", "invalid assertion: signature does not verify") from None
    if claims.get("iss") != settings.client_id:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    if claims.get("sub") != settings.username:
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    audiences = {a.strip() for a in settings.jwt_audiences.split(",") if a.strip()}
    aud = claims.get("aud")
    given = set(aud) if isinstance(aud, list) else {aud}
    if not given & audiences:
        raise OAuthError("invalid_grant", "audience is invalid")
    exp = _numeric_date(claims.get("exp"))
    now = time.time()
    if exp is None:
        raise OAuthError("invalid_grant", "invalid assertion: exp is required (seconds since the epoch)")
    if exp <= now:
        raise OAuthError("invalid_grant", "expired authorization code")
    if exp - now > _MAX_LIFETIME:
        raise OAuthError("invalid_grant", "invalid assertion: exp must be within 3 minutes")


@post("/services/oauth2/token", operation_id="sf_oauth_token", status_code=200)
async def token(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Issue an access token; errors are Salesforce's `{"error", "error_description"}` (400)."""
    state: SandboxState = request.app.state.sf
    settings = state.settings
    spec = state.faults.take(request.method, request.url.path)
    faulted = await apply_fault(state, spec) if spec is not None else None
    if faulted is not None:
        return faulted
    form = {k: str(v) for k, v in (await request.form()).items()}
    grant = form.get("grant_type")
    if grant == "client_credentials":
        _client_credentials(form, request, settings)
    elif grant == JWT_BEARER:
        _jwt_bearer(form.get("assertion"), settings)
    elif not grant:
        raise OAuthError("invalid_request", "grant type not supported")
    else:
        raise OAuthError("unsupported_grant_type", "grant type not supported")
    access_token, issued = state.sessions.issue()
    base = str(request.base_url).rstrip("/")
    identity = f"{base}/id/{settings.org_id}/{settings.user_id}"
    issued_at = str(int(issued * 1000))
    signature = base64.b64encode(
        hmac.new(settings.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    ).decode()
    body = {
        "access_token": access_token,
        "instance_url": base,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": signature,
        "scope": "api",
    }
    return Response(content=encode(body), status_code=200, media_type="application/json")
