"""Sign-in, its callback from the IdP, and sign-out.

`GET /login` starts the authorization code flow: a fresh `state`, PKCE verifier and nonce are kept
in Redis for `login_ttl`, bound to a short-lived cookie of this browser, and the browser goes to the
IdP. `GET /auth/callback` accepts the code only for a state this browser started (once), redeems it
with the verifier, checks the ID token and starts the session. `POST /logout` (CSRF-checked) ends
the session here and at the IdP.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import Cookie, State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect

from experience.auth import SignedIn, session_cookie
from experience.csrf import checked_form
from experience.errors import SignInFailed
from experience.oidc import OidcClient
from experience.sessions import PendingLogin, Session, SessionStore, new_secret
from experience.settings import ConsoleSettings

__all__ = ["callback", "login", "logout"]

_LOGIN_COOKIE = "fig_console_login"


def _local_path(value: str | None) -> str:
    """Only a path of this console is a place to return to (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _browser_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _login_cookie(settings: ConsoleSettings, value: str, max_age: int) -> Cookie:
    return Cookie(
        key=_LOGIN_COOKIE,
        value=value,
        path="/auth",
        max_age=max_age,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


@get("/login", include_in_schema=False)
async def login(state: State, next_path: FromQuery[str | None] = None) -> Redirect:
    """Send the browser to the IdP's sign-in, to come back to `next_path`."""
    settings: ConsoleSettings = state.settings
    store: SessionStore = state.console_sessions
    oidc: OidcClient = state.oidc
    login_state, verifier, nonce, browser = new_secret(), new_secret(), new_secret(), new_secret()
    await store.begin_login(
        login_state,
        PendingLogin(verifier=verifier, nonce=nonce, next_path=_local_path(next_path), browser=_browser_hash(browser)),
    )
    redirect = Redirect(await oidc.authorize_url(state=login_state, verifier=verifier, nonce=nonce), status_code=303)
    redirect.cookies.append(_login_cookie(settings, browser, settings.login_ttl))
    return redirect


@get("/auth/callback", include_in_schema=False)
async def callback(
    request: Request[Any, Any, Any],
    state: State,
    code: FromQuery[str | None] = None,
    error: FromQuery[str | None] = None,
    error_description: FromQuery[str | None] = None,
) -> Redirect:
    """The IdP's answer: a code for a sign-in this browser started, or the reason it failed."""
    settings: ConsoleSettings = state.settings
    store: SessionStore = state.console_sessions
    oidc: OidcClient = state.oidc
    # `state` is Litestar's reserved parameter name (the app state): read the query's directly.
    login_state = request.query_params.get("state")
    if error:
        raise SignInFailed(f"The identity provider ended the sign-in: {error} {error_description or ''}".strip())
    if not code or not login_state:
        raise SignInFailed("The sign-in answer has no code or state: start again.")
    pending = await store.finish_login(login_state)
    browser = request.cookies.get(_LOGIN_COOKIE, "")
    if pending is None or not hmac.compare_digest(pending.browser, _browser_hash(browser)):
        raise SignInFailed("This sign-in was not started in this browser, or it took too long: start again.")
    tokens = await oidc.redeem(code, pending.verifier)
    person = oidc.identity(tokens, pending.nonce)
    now = time.time()
    session_id = await store.create(
        Session(
            subject=person.subject,
            name=person.name,
            roles=person.roles,
            legal_entities=person.legal_entities,
            scopes=tokens.scope.split(),
            access_token=tokens.access_token,
            access_expires_at=now + tokens.expires_in,
            refresh_token=tokens.refresh_token,
            id_token=tokens.id_token or "",
            csrf=new_secret(),
            created_at=now,
        )
    )
    redirect = Redirect(pending.next_path, status_code=303)
    redirect.cookies.extend(
        [
            session_cookie(settings, session_id, max_age=settings.session_max_age),
            _login_cookie(settings, "", 0),
        ]
    )
    return redirect


@post("/logout", include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], state: State, who: NamedDependency[SignedIn]) -> Response[Any]:
    """End the session here, then at the IdP (its refresh tokens stop working)."""
    settings: ConsoleSettings = state.settings
    await checked_form(request, who, settings)
    store: SessionStore = state.console_sessions
    await store.end(who.session_id)
    oidc: OidcClient = state.oidc
    redirect = Redirect(await oidc.logout_url(who.session.id_token), status_code=303)
    redirect.cookies.append(session_cookie(settings, "", max_age=0))
    return redirect
