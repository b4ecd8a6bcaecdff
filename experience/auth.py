"""Who is signed in: the session cookie, the session behind it, and a fresh access token.

The cookie is `HttpOnly`, `SameSite=Lax`, `Path=/` and `Secure` (named `__Host-fig_console`),
except on plain HTTP on loopback (the local stack), where browsers would drop a `Secure` cookie.
The person's access token is refreshed with the refresh token shortly before it expires; a
refused refresh ends the session.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Cookie, State

from experience.errors import NotSignedIn, SignInFailed
from experience.oidc import OidcClient
from experience.sessions import Session, SessionStore
from experience.settings import ConsoleSettings

__all__ = ["SignedIn", "cookie_name", "session_cookie", "signed_in"]

_REFRESH_MARGIN = 30.0


def cookie_name(settings: ConsoleSettings) -> str:
    return "__Host-fig_console" if settings.secure_cookies else "fig_console"


def session_cookie(settings: ConsoleSettings, value: str, *, max_age: int) -> Cookie:
    """The session cookie (an empty value with `max_age=0` removes it)."""
    return Cookie(
        key=cookie_name(settings),
        value=value,
        path="/",
        max_age=max_age,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


class SignedIn(msgspec.Struct, kw_only=True):
    """The request's session and its id (to save a refreshed token or end it)."""

    session_id: str
    session: Session

    @property
    def token(self) -> str:
        return self.session.access_token


def _next_path(request: Request[Any, Any, Any]) -> str:
    return request.url.path if request.method == "GET" else "/"


async def signed_in(request: Request[Any, Any, Any], state: State) -> SignedIn:
    """The person signed in on this browser (dependency of every page); `NotSignedIn` otherwise."""
    settings: ConsoleSettings = state.settings
    session_id = request.cookies.get(cookie_name(settings))
    store: SessionStore = state.console_sessions
    session = await store.load(session_id) if session_id else None
    if session_id is None or session is None:
        raise NotSignedIn(_next_path(request))
    if session.access_expires_at - _REFRESH_MARGIN < time.time():
        oidc: OidcClient = state.oidc
        if not session.refresh_token:
            await store.end(session_id)
            raise NotSignedIn(_next_path(request))
        try:
            tokens = await oidc.refresh(session.refresh_token)
        except SignInFailed:
            await store.end(session_id)
            raise NotSignedIn(_next_path(request)) from None
        session.access_token = tokens.access_token
        session.access_expires_at = time.time() + tokens.expires_in
        session.refresh_token = tokens.refresh_token or session.refresh_token
        await store.save(session_id, session)
    return SignedIn(session_id=session_id, session=session)
