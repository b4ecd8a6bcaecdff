"""Server-side sessions of signed-in people, and sign-ins in progress, in Redis.

The browser holds only a random session id (256 bits) in a cookie; Redis holds the person, their
tokens and the session's CSRF token under the SHA-256 of that id, so a copy of Redis does not give
anyone a usable cookie. A session ends after `idle_ttl` seconds without a request (each read renews
the key's expiry in the same round trip, GETEX) and at the latest `max_age` seconds after sign-in.
Every key has its own hash tag, so the store works on Redis Cluster.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import msgspec

from servicekit.redis import RedisClient

__all__ = ["PendingLogin", "Session", "SessionStore", "new_secret"]

_SESSION = "fig:console:session:{{{}}}"
_LOGIN = "fig:console:login:{{{}}}"


def new_secret() -> str:
    """A random, URL-safe value of 256 bits (session ids, CSRF tokens, PKCE verifiers, states)."""
    return secrets.token_urlsafe(32)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class Session(msgspec.Struct, kw_only=True):
    """A signed-in person: who, what they may do, their tokens and the session's CSRF token."""

    subject: str
    name: str
    roles: list[str]
    legal_entities: list[str]
    scopes: list[str]
    access_token: str
    access_expires_at: float
    refresh_token: str | None
    id_token: str
    csrf: str
    created_at: float

    def may(self, scope: str) -> bool:
        return scope in self.scopes


class PendingLogin(msgspec.Struct, kw_only=True, frozen=True):
    """A sign-in sent to the IdP: the PKCE verifier, the nonce, where to go after, and the hash of
    the browser cookie that started it (so a code cannot be planted in another person's browser)."""

    verifier: str
    nonce: str
    next_path: str
    browser: str


class SessionStore:
    """Sessions and pending sign-ins; one Redis round trip per operation."""

    def __init__(self, redis: RedisClient, *, idle_ttl: int, max_age: int, login_ttl: int) -> None:
        self._redis = redis
        self._idle_ttl = idle_ttl
        self._max_age = max_age
        self._login_ttl = login_ttl
        self._session = msgspec.json.Decoder(Session)
        self._login = msgspec.json.Decoder(PendingLogin)

    async def begin_login(self, state: str, pending: PendingLogin) -> None:
        await self._redis.set(_LOGIN.format(_digest(state)), msgspec.json.encode(pending), ex=self._login_ttl)

    async def finish_login(self, state: str) -> PendingLogin | None:
        """The pending sign-in of `state`, once (deleted as it is read)."""
        raw = await self._redis.getdel(_LOGIN.format(_digest(state)))
        return self._login.decode(raw) if raw else None

    async def create(self, session: Session) -> str:
        """Store `session` and answer the new session id for the cookie."""
        session_id = new_secret()
        await self._redis.set(_SESSION.format(_digest(session_id)), msgspec.json.encode(session), ex=self._idle_ttl)
        return session_id

    async def load(self, session_id: str) -> Session | None:
        """The session, its idle expiry renewed; None when unknown, idle too long or past `max_age`."""
        key = _SESSION.format(_digest(session_id))
        raw = await self._redis.getex(key, ex=self._idle_ttl)
        if not raw:
            return None
        session = self._session.decode(raw)
        if time.time() - session.created_at > self._max_age:
            await self._redis.delete(key)
            return None
        return session

    async def save(self, session_id: str, session: Session) -> None:
        await self._redis.set(_SESSION.format(_digest(session_id)), msgspec.json.encode(session), ex=self._idle_ttl)

    async def end(self, session_id: str) -> None:
        await self._redis.delete(_SESSION.format(_digest(session_id)))
