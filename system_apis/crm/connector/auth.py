"""Salesforce sessions: the client-credentials grant, or the JWT-bearer grant when a key is configured.

Salesforce tokens carry no `expires_in` (the org's session timeout decides), so a session is cached
until Salesforce answers 401 INVALID_SESSION_ID; then the client asks for a fresh one, once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import jwt
import msgspec

from system_apis.crm.connector.wire import decode_json, error_from_response
from system_apis.crm.errors import SalesforceAuthError, SalesforceProtocolError, SalesforceUnreachable

__all__ = ["JWT_BEARER", "SalesforceCredentials", "SalesforceSession", "SessionProvider"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Salesforce refuses assertions whose `exp` is more than three minutes away.
_ASSERTION_LIFETIME = 150


class SalesforceCredentials(msgspec.Struct, kw_only=True, frozen=True):
    """A connected app's credentials. With `private_key_file` the JWT-bearer grant is used."""

    login_url: str
    client_id: str
    client_secret: str | None = None
    username: str | None = None
    private_key_file: str | None = None
    audience: str = "https://test.salesforce.com"


class SalesforceSession(msgspec.Struct, kw_only=True, frozen=True):
    access_token: str
    instance_url: str
    identity_url: str | None = None


class SessionProvider:
    """Obtains and caches one session; concurrent callers share one token request."""

    def __init__(self, http: httpx.AsyncClient, credentials: SalesforceCredentials) -> None:
        self.http = http
        self.credentials = credentials
        self._private_key = Path(credentials.private_key_file).read_bytes() if credentials.private_key_file else None
        self._session: SalesforceSession | None = None
        self._lock = asyncio.Lock()

    @property
    def grant(self) -> str:
        return JWT_BEARER if self._private_key else "client_credentials"

    async def session(self, *, stale: SalesforceSession | None = None) -> SalesforceSession:
        """The cached session, or a new one; pass the session Salesforce just refused as `stale`."""
        async with self._lock:
            if self._session is None or (stale is not None and self._session.access_token == stale.access_token):
                self._session = await self._authenticate()
            return self._session

    def assertion(self) -> str:
        """An RS256 JWT-bearer assertion: iss = client id, sub = username, exp within 3 minutes."""
        creds = self.credentials
        if self._private_key is None or not creds.username:
            raise SalesforceAuthError(400, "invalid_request", "the JWT-bearer grant needs a private key and a username")
        claims = {"iss": creds.client_id, "sub": creds.username, "aud": creds.audience,
                  "exp": int(time.time()) + _ASSERTION_LIFETIME}  # fmt: skip
        return jwt.encode(claims, self._private_key, algorithm="RS256")

    def _form(self) -> dict[str, str]:
        if self._private_key is not None:
            return {"grant_type": JWT_BEARER, "assertion": self.assertion()}
        creds = self.credentials
        return {
            "grant_type": "client_credentials",
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
        }

    async def _authenticate(self) -> SalesforceSession:
        url = self.credentials.login_url.rstrip("/") + "/services/oauth2/token"
        try:
            response = await self.http.post(url, data=self._form())
        except httpx.TimeoutException as exc:
            raise SalesforceUnreachable(f"token request to {url} timed out: {exc}", timeout=True) from exc
        except httpx.TransportError as exc:
            raise SalesforceUnreachable(f"token request to {url} failed: {exc}") from exc
        if response.status_code != 200:
            raise error_from_response(response)
        body = decode_json(response)
        try:
            return SalesforceSession(
                access_token=str(body["access_token"]),
                instance_url=str(body["instance_url"]).rstrip("/"),
                identity_url=body.get("id"),
            )
        except (KeyError, TypeError) as exc:
            raise SalesforceProtocolError(f"token response lacks {exc}") from None
