"""The IdP's endpoints: token, JWKS, discovery document and key rotation."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State

from gateway.idp.delegation import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, exchange_token
from gateway.idp.errors import InvalidClient, InvalidRequest, OAuthError, UnsupportedGrantType
from gateway.idp.issuer import TokenIssuer, parse_basic_auth

__all__ = ["discovery", "jwks", "rotate_key", "token"]

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SINGLE = (
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "subject_token",
    "subject_token_type",
    "audience",
    "requested_token_type",
)
_GRANTS = ("client_credentials", TOKEN_EXCHANGE)


async def _token_request(request: Request[Any, Any, Any], issuer: TokenIssuer) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequest(f"The token request must be {_FORM}.")
    form = await request.form()
    for name in _SINGLE:
        if len(form.getall(name, [])) > 1:
            raise InvalidRequest(f"The parameter {name!r} is repeated.")
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("The grant_type parameter is missing.")
    if grant_type not in _GRANTS:
        raise UnsupportedGrantType(f"Supported grants: {', '.join(_GRANTS)}; not {grant_type!r}.")
    basic = parse_basic_auth(request.headers.get("authorization", ""))
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None and (form_id or form_secret):
        raise InvalidRequest("Use one client authentication method: HTTP Basic or form fields, not both.")
    if basic is not None:
        client_id, secret = basic
    elif isinstance(form_id, str) and isinstance(form_secret, str) and form_id:
        client_id, secret = form_id, form_secret
    else:
        raise InvalidClient("Client authentication is missing: use HTTP Basic or client_id/client_secret.")
    # scrypt takes ~60 ms of CPU (and releases the GIL): keep it off the event loop.
    client = await asyncio.to_thread(issuer.authenticate, client_id, secret)
    if grant_type == TOKEN_EXCHANGE:
        return {**exchange_token(issuer, client, form).body(), "issued_token_type": ACCESS_TOKEN_TYPE}
    scope = form.get("scope")
    scopes = issuer.granted_scopes(client, scope if isinstance(scope, str) else None)
    return issuer.issue(client, scopes).body()


@post("/oauth2/token", operation_id="idp_token", status_code=200)
async def token(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """OAuth 2.0 client-credentials grant (RFC 6749 4.4) and token exchange (RFC 8693, for clients
    registered for it); errors use the RFC 6749 5.2 body."""
    try:
        body = await _token_request(request, state.token_issuer)
    except OAuthError as exc:
        return exc.to_response()
    return Response(content=body, status_code=200, headers=_NO_STORE)


@get("/.well-known/jwks.json", operation_id="idp_jwks", sync_to_thread=False)
def jwks(state: State) -> Response[dict[str, Any]]:
    """The public keys that verify this issuer's tokens: the current key and those in their grace period."""
    # Short caching: verifiers refetch on an unknown kid anyway, so a rotation is seen at once.
    return Response(content=state.token_issuer.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})


@get("/.well-known/openid-configuration", operation_id="idp_discovery", sync_to_thread=False)
def discovery(state: State) -> dict[str, Any]:
    """Discovery metadata (OpenID Connect Discovery / RFC 8414 subset) for the client-credentials grant."""
    issuer: TokenIssuer = state.token_issuer
    base = issuer.issuer.rstrip("/")
    return {
        "issuer": issuer.issuer,
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "grant_types_supported": list(_GRANTS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "scopes_supported": issuer.registry.all_scopes(),
        "token_signing_alg_values_supported": ["ES256"],
    }


@post("/__admin/rotate-key", operation_id="idp_rotate_key", status_code=200, sync_to_thread=False)
def rotate_key(state: State) -> dict[str, Any]:
    """Make a new signing key current; the previous one stays in the JWKS for the grace period."""
    issuer: TokenIssuer = state.token_issuer
    previous = issuer.keys.current.kid
    current = issuer.keys.rotate()
    return {
        "kid": current.kid,
        "previous_kid": previous,
        "grace_seconds": issuer.keys.grace_seconds,
        "published": [k.kid for k in issuer.keys.published()],
    }
