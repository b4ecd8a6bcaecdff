"""The IdP's token endpoint and JWKS: client credentials, authorization code, refresh and token exchange."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import State

from gateway.idp.clients import ClientRecord
from gateway.idp.delegation import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE, exchange_token
from gateway.idp.errors import (
    InvalidClient,
    InvalidRequest,
    OAuthError,
    TooManyAttempts,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from gateway.idp.grants import redeem_code, refresh
from gateway.idp.issuer import TokenIssuer, parse_basic_auth
from gateway.idp.throttle import FailureThrottle

__all__ = ["jwks", "source_address", "token"]

_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_SINGLE = (
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "subject_token",
    "subject_token_type",
    "audience",
    "requested_token_type",
)
_GRANTS = ("client_credentials", "authorization_code", "refresh_token", TOKEN_EXCHANGE)


def source_address(request: Request[Any, Any, Any]) -> str | None:
    """The peer address of the connection (a proxy in front must be trusted to pass the real one)."""
    return request.client.host if request.client else None


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != _FORM:
        raise InvalidRequest(f"The token request must be {_FORM}.")
    form = await request.form()
    for name in _SINGLE:
        if len(form.getall(name, [])) > 1:
            raise InvalidRequest(f"The parameter {name!r} is repeated.")
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def authenticate_client(request: Request[Any, Any, Any], form: dict[str, str], state: State) -> ClientRecord:
    """The calling client: a confidential one by its secret (throttled), a public one by its id."""
    issuer: TokenIssuer = state.token_issuer
    throttle: FailureThrottle = state.throttle
    basic = parse_basic_auth(request.headers.get("authorization", ""))
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if basic is not None and (form_secret or (form_id and form_id != basic[0])):
        raise InvalidRequest("Use one client authentication method: HTTP Basic or form fields, not both.")
    if basic is not None:
        client_id, secret = basic
    elif form_id and form_secret is not None:
        client_id, secret = form_id, form_secret
    elif form_id and (public := issuer.registry.get(form_id)) is not None and public.public:
        return public
    else:
        raise InvalidClient("Client authentication is missing: use HTTP Basic or client_id/client_secret.")
    known = issuer.registry.get(client_id)
    subject = client_id if known is not None else None
    address = source_address(request)
    wait = await throttle.retry_after("client", subject, address)
    if wait is not None:
        raise TooManyAttempts(wait)
    try:
        # scrypt takes ~60 ms of CPU (and releases the GIL): keep it off the event loop.
        return await asyncio.to_thread(issuer.authenticate, client_id, secret)
    except InvalidClient:
        await throttle.failed("client", subject, address)
        raise


async def _grant(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    form = await _form(request)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise InvalidRequest("The grant_type parameter is missing.")
    if grant_type not in _GRANTS:
        raise UnsupportedGrantType(f"Supported grants: {', '.join(_GRANTS)}; not {grant_type!r}.")
    client = await authenticate_client(request, form, state)
    if grant_type == "authorization_code":
        return await redeem_code(form, client, state)
    if grant_type == "refresh_token":
        return await refresh(form, client, state)
    if client.public:
        raise UnauthorizedClient(f"Client {client.client_id!r} is public: it may not use {grant_type}.")
    issuer: TokenIssuer = state.token_issuer
    if grant_type == TOKEN_EXCHANGE:
        return {**exchange_token(issuer, client, form).body(), "issued_token_type": ACCESS_TOKEN_TYPE}
    scopes = issuer.granted_scopes(client, form.get("scope"))
    return issuer.issue(client, scopes).body()


@post("/oauth2/token", operation_id="idp_token", status_code=200)
async def token(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """OAuth 2.0 token endpoint (RFC 6749): client credentials, authorization code with PKCE, refresh,
    and token exchange (RFC 8693) for clients registered for it.

    Errors use the RFC 6749 5.2 body; repeated failed client authentication answers 429 with Retry-After.
    """
    try:
        body = await _grant(request, state)
    except OAuthError as exc:
        return exc.to_response()
    return Response(content=body, status_code=200, headers=_NO_STORE)


@get("/.well-known/jwks.json", operation_id="idp_jwks", sync_to_thread=False)
def jwks(state: State) -> Response[dict[str, Any]]:
    """The public keys that verify this issuer's tokens: the current key and those in their grace period."""
    # Short caching: verifiers refetch on an unknown kid anyway, so a rotation is seen at once.
    return Response(content=state.token_issuer.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})
