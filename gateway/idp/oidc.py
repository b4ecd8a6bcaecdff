"""OpenID Connect for people: authorize (the sign-in form), login, userinfo and logout.

Only the authorization code flow with PKCE S256 is served. Until the client and its exact
registered `redirect_uri` are known, errors are shown as a page (never redirected to an unchecked
address); after that they go back to the client (RFC 6749 4.1.2.1) with `state` and `iss`
(RFC 9207). The form is CSRF-safe: a pending sign-in lives in Redis with the hash of a random
cookie (`SameSite=Strict`, `HttpOnly`) set with the form, and only a POST carrying both the
sign-in id and that cookie is considered. Wrong passwords are throttled per person and per address.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from html import escape
from typing import Any
from urllib.parse import urlencode

import jwt
from litestar import Request, Response, get, post, route
from litestar.datastructures import Cookie, State
from litestar.response import Redirect

from gateway.idp.clients import ClientRecord
from gateway.idp.hashing import verify_secret
from gateway.idp.issuer import TokenIssuer
from gateway.idp.pages import html_page, login_page
from gateway.idp.persons import PersonTokens, person_scopes
from gateway.idp.routes import source_address
from gateway.idp.sessions import AuthRequest, CodeGrant, PersonGrant, SessionStore
from gateway.idp.throttle import FailureThrottle
from gateway.idp.users import UserDirectory

__all__ = ["authorize", "login", "logout", "userinfo"]

_COOKIE = "fig_idp_login"
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
)


class _Refused(Exception):
    """An authorization request error sent back to the client's redirect_uri."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _back(redirect_uri: str, params: dict[str, str | None]) -> Redirect:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return Redirect(f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}", status_code=303)


def _bad_page(detail: str, status: int = 400) -> Response[str]:
    body = f"<h1>Sign-in request refused</h1><p>{escape(detail)}</p>"
    return html_page("Sign-in request refused", body, status=status)


def _validate(query: dict[str, str], client: ClientRecord) -> tuple[list[str], str]:
    """The requested scopes and the PKCE challenge, or `_Refused` naming what is wrong."""
    if query.get("response_type") != "code":
        raise _Refused("unsupported_response_type", "Only response_type=code is supported.")
    if "none" in query.get("prompt", "").split():
        # No sign-in session is kept between requests, so a silent sign-in can never succeed.
        raise _Refused("login_required", "This identity provider keeps no sign-in session: prompt=none fails.")
    scope = query.get("scope", "").split()
    if "openid" not in scope:
        raise _Refused("invalid_scope", "The scope must include openid.")
    unknown = sorted(set(scope) - set(client.scopes))
    if unknown:
        raise _Refused("invalid_scope", f"Client {client.client_id!r} may not ask for: {' '.join(unknown)}.")
    challenge = query.get("code_challenge")
    if not challenge:
        raise _Refused("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.")
    if query.get("code_challenge_method") != "S256":
        raise _Refused("invalid_request", "Only code_challenge_method=S256 is supported (plain is refused).")
    if not _CHALLENGE.match(challenge):
        raise _Refused("invalid_request", "The code_challenge must be 43 characters of base64url (S256).")
    return list(dict.fromkeys(scope)), challenge


@get("/oauth2/authorize", operation_id="idp_authorize", include_in_schema=True)
async def authorize(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """Authorization endpoint (OpenID Connect code flow, PKCE S256 required): shows the sign-in form."""
    issuer: TokenIssuer = state.token_issuer
    params = request.query_params
    repeated = [n for n in _AUTHORIZE_PARAMS if len(params.getall(n, [])) > 1]
    query = {k: v for k, v in params.items() if isinstance(v, str)}
    client = issuer.registry.get(query.get("client_id", ""))
    if client is None:
        return _bad_page("The client_id is missing or not registered with this identity provider.")
    redirect_uri = query.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris or "redirect_uri" in repeated:
        return _bad_page(f"The redirect_uri is not one registered for client {client.client_id!r}.")
    back = {"state": query.get("state"), "iss": issuer.issuer}
    try:
        if repeated:
            raise _Refused("invalid_request", f"Repeated parameter(s): {', '.join(repeated)}.")
        scope, challenge = _validate(query, client)
    except _Refused as refused:
        return _back(redirect_uri, {"error": refused.error, "error_description": refused.description, **back})
    csrf = secrets.token_urlsafe(32)
    sessions: SessionStore = state.sessions
    login_id = await sessions.begin_login(
        AuthRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            state=query.get("state"),
            nonce=query.get("nonce"),
            code_challenge=challenge,
            csrf_hash=sessions.csrf_hash(csrf),
        )
    )
    page = login_page(login_id=login_id, client=client.description or client.client_id)
    page.cookies.append(_cookie(csrf, issuer.issuer, sessions.login_ttl))
    return page


def _cookie(value: str, issuer: str, max_age: int) -> Cookie:
    return Cookie(
        key=_COOKIE,
        value=value,
        path="/oauth2",
        httponly=True,
        samesite="strict",
        secure=issuer.startswith("https://"),
        max_age=max_age,
    )


@post("/oauth2/login", operation_id="idp_login", status_code=200)
async def login(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """The sign-in form's target: checks the password (throttled), then redirects with a code."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _bad_page("The sign-in form must be posted as application/x-www-form-urlencoded.")
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    sessions: SessionStore = state.sessions
    login_id = form.get("login_id", "")
    pending = await sessions.pending_login(login_id)
    if pending is None:
        return _bad_page("This sign-in has expired or was already used: start again from the application.")
    cookie = request.cookies.get(_COOKIE, "")
    if not cookie or not secrets.compare_digest(sessions.csrf_hash(cookie), pending.csrf_hash):
        return _bad_page("This sign-in form was not submitted from the page this identity provider served.", 403)
    issuer: TokenIssuer = state.token_issuer
    client = issuer.registry.get(pending.client_id)
    users: UserDirectory = state.users
    throttle: FailureThrottle = state.throttle
    username = form.get("username", "").strip()
    user = users.get(username)
    address = source_address(request)
    label = (client.description if client else "") or pending.client_id
    wait = await throttle.retry_after("user", username if user else None, address)
    if wait is not None:
        return login_page(
            login_id=login_id,
            client=label,
            username=username,
            error=f"Too many failed sign-ins. Try again in {wait} seconds.",
            status=429,
            headers={"Retry-After": str(wait)},
        )
    ok = await asyncio.to_thread(
        verify_secret, form.get("password", ""), user.password_hash if user else None, password=True
    )
    if not ok or user is None or client is None:
        await throttle.failed("user", username if user else None, address)
        return login_page(
            login_id=login_id, client=label, username=username, error="Wrong username or password.", status=401
        )
    if not await sessions.end_login(login_id):
        return _bad_page("This sign-in was already completed in another request.")
    grant = PersonGrant(
        username=user.username,
        client_id=pending.client_id,
        scope=person_scopes(pending.scope, user, client, users),
        auth_time=int(issuer.clock()),
    )
    code = await sessions.issue_code(
        CodeGrant(
            grant=grant, redirect_uri=pending.redirect_uri, code_challenge=pending.code_challenge, nonce=pending.nonce
        )
    )
    redirect = _back(pending.redirect_uri, {"code": code, "state": pending.state, "iss": issuer.issuer})
    redirect.cookies.append(_cookie("", issuer.issuer, 0))
    return redirect


def _bearer_error(description: str) -> Response[dict[str, str]]:
    return Response(
        content={"error": "invalid_token", "error_description": description},
        status_code=401,
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"',
            "Cache-Control": "no-store",
        },
    )


@route("/oauth2/userinfo", http_method=["GET", "POST"], status_code=200)
async def userinfo(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """OpenID Connect UserInfo: the signed-in person's claims, for a person's access token with `openid`."""
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return Response(
            content={"error": "invalid_request", "error_description": "Send the access token as a Bearer token."},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="fig-idp"'},
        )
    people: PersonTokens = state.people
    try:
        claims = people.read(token.strip())
    except jwt.PyJWTError as exc:
        return _bearer_error(f"The access token does not verify: {exc}".replace('"', "'"))
    users: UserDirectory = state.users
    user = users.get(str(claims["sub"]))
    scope = str(claims.get("scope", "")).split()
    if user is None or "openid" not in scope:
        return _bearer_error("Not an access token of a signed-in person (scope openid).")
    return Response(
        content={
            "sub": user.username,
            **people.profile(user, scope),
            "roles": list(user.roles),
            "legal_entities": claims.get("legal_entities", []),
        },
        headers={"Cache-Control": "no-store"},
    )


@route("/oauth2/logout", http_method=["GET", "POST"], status_code=200)
async def logout(request: Request[Any, Any, Any], state: State) -> Response[Any]:
    """OpenID Connect RP-initiated logout: ends the session of `id_token_hint` (its refresh tokens
    stop working) and returns to a registered `post_logout_redirect_uri` with `state`."""
    params = dict(request.query_params.items())
    if request.method == "POST":
        params.update({k: v for k, v in (await request.form()).items() if isinstance(v, str)})
    issuer: TokenIssuer = state.token_issuer
    people: PersonTokens = state.people
    client_id = params.get("client_id")
    hint = params.get("id_token_hint")
    sid = None
    if hint:
        try:
            audience = jwt.decode(hint, options={"verify_signature": False}).get("aud")
            claims = people.read(hint, audience=str(audience), verify_exp=False)
        except jwt.PyJWTError:
            return _bad_page("The id_token_hint is not an ID token of this identity provider.")
        if client_id and client_id != claims["aud"]:
            return _bad_page("The id_token_hint was issued to another client than client_id.")
        client_id, sid = str(claims["aud"]), claims.get("sid")
    if isinstance(sid, str):
        sessions: SessionStore = state.sessions
        await sessions.end_session(sid)
    target = params.get("post_logout_redirect_uri")
    if target:
        client = issuer.registry.get(client_id or "")
        if client is None or target not in client.post_logout_redirect_uris:
            return _bad_page("The post_logout_redirect_uri is not one registered for the client.")
        return _back(target, {"state": params.get("state")})
    return html_page("Signed out", "<h1>Signed out</h1><p>You can close this window.</p>")
