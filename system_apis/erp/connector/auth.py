"""NetSuite OAuth 2.0 M2M: a signed client assertion exchanged for a cached access token.

The assertion is a JWT signed with the integration's private key (ES256 by default, or PS256),
whose `kid` is the certificate id of the M2M mapping, `iss` the client id, `aud` the token URL and
`exp` at most an hour after `iat`. NetSuite issues no refresh token: the grant is simply run again
shortly before `expires_in` runs out, or at once after a 401.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from system_apis.erp.devkey import dev_private_key
from system_apis.erp.errors import ErpAuthError, ErpThrottled, ErpUnavailable

__all__ = ["ASSERTION_TYPE", "TOKEN_PATH", "NetSuiteTokens", "load_private_key"]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def load_private_key(path: str | None) -> PrivateKey:
    """The PEM private key at `path`; the deterministic dev key when `path` is empty."""
    if not path:
        return dev_private_key()
    key = load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"{path}: the NetSuite assertion key must be an EC or RSA private key")
    return key


class NetSuiteTokens:
    """Fetches and caches the access token; `invalidate` after a 401 forces a fresh grant."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token_url: str,
        client_id: str,
        key_id: str,
        key: PrivateKey,
        algorithm: str = "ES256",
        assertion_lifetime: int = 300,
        skew: float = 60.0,
        retries: int = 3,
        backoff: float = 0.2,
    ) -> None:
        if assertion_lifetime > 3600:
            raise ValueError("a NetSuite client assertion may live at most 3600 s")
        self.http = http
        self.token_url = token_url
        self.client_id = client_id
        self.key_id = key_id
        self.key = key
        self.algorithm = algorithm
        self.assertion_lifetime = assertion_lifetime
        self.skew = skew
        self.retries = retries
        self.backoff = backoff
        self.grants = 0
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    def assertion(self) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "scope": ["rest_webservices"],
            "aud": self.token_url,
            "iat": now,
            "exp": now + self.assertion_lifetime,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.key_id, "typ": "JWT"})

    async def token(self) -> str:
        """A live access token: the cached one, or a new grant when it is (about to be) expired."""
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires:
                await self._grant()
            assert self._token is not None  # set by _grant
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (NetSuite refused it); a concurrent caller's newer token is kept."""
        if self._token == token:
            self._token = None

    async def _grant(self) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        for attempt in range(self.retries + 1):
            try:
                response = await self.http.post(self.token_url, data=form)
            except httpx.HTTPError as exc:
                raise ErpUnavailable(f"NetSuite token endpoint unreachable: {exc}") from exc
            if response.status_code != 429:
                break
            # The token endpoint counts against the account's concurrency limit too.
            await asyncio.sleep(self.backoff * 2**attempt)
        else:
            raise ErpThrottled("NetSuite kept throttling the token endpoint.", status=429)
        if response.status_code != 200:
            error = _field(response, "error") or str(response.status_code)
            raise ErpAuthError(
                f"NetSuite refused the client assertion of {self.client_id!r}: {error} "
                f"{_field(response, 'error_description') or ''}".strip(),
                status=response.status_code,
                code=error,
            )
        try:
            body = response.json()
            self._token = str(body["access_token"])
            lifetime = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError) as exc:
            raise ErpAuthError(f"NetSuite's token response is unreadable: {exc}") from None
        self._expires = time.monotonic() + max(lifetime - self.skew, 0.0)
        self.grants += 1


def _field(response: httpx.Response, name: str) -> str | None:
    try:
        value = response.json().get(name)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
