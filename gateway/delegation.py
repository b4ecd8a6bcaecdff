"""The gateway's own identity towards its upstream: each verified consumer token is exchanged
(OAuth 2.0 Token Exchange, RFC 8693) at the identity provider for one addressed to the upstream's
audience, carrying the caller's `sub`, `client_id`, `scope` and `legal_entities` and naming the
gateway in `act`.

Why an exchange at the IdP rather than an assertion the gateway signs itself: the IdP stays the
one trust root (one JWKS, one key rotation, verified by the same `JWKSVerifier` in every service),
no gateway instance holds a signing key, and only a client registered for the audience can obtain
such a token. The cost is one IdP call per consumer token, not per request: the result is kept
with the verified claims (`VerifiedTokenCache`), and concurrent first calls with one token share a
single exchange.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from servicekit import Unauthorized, UpstreamUnavailable
from servicekit.auth import INVALID_TOKEN_CHALLENGE

__all__ = ["ACCESS_TOKEN_TYPE", "TOKEN_EXCHANGE", "TokenExchanger"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class TokenExchanger:
    """Trades a consumer token for an upstream token at `token_url`, authenticated as the gateway.

    `exchange` returns the token and its expiry (wall clock). 401 `invalid-token` when the IdP
    refuses the consumer's token (`invalid_grant`), 503 when the IdP is unreachable or refuses the
    gateway itself (a configuration fault the caller cannot fix).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        audience: str,
        http: httpx.AsyncClient,
        *,
        max_entries: int = 10_000,
        margin: float = 10.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.audience = audience
        self.http = http
        self.max_entries = max_entries
        self.margin = margin
        self._pending: dict[str, asyncio.Task[tuple[str, float]]] = {}
        #: Issued tokens by consumer token, reused until `margin` seconds before they expire: the
        #: verified-token cache ends with each JWKS lifetime, an exchanged token need not.
        self._issued: dict[str, tuple[str, float]] = {}

    async def exchange(self, token: str) -> tuple[str, float]:
        issued = self._issued.get(token)
        if issued is not None:
            if issued[1] - self.margin > time.time():
                return issued
            del self._issued[token]
        task = self._pending.get(token)
        if task is None:
            task = asyncio.ensure_future(self._exchange(token))
            self._pending[token] = task
            task.add_done_callback(lambda _: self._pending.pop(token, None))
        return await asyncio.shield(task)

    async def _exchange(self, token: str) -> tuple[str, float]:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "audience": self.audience,
        }
        try:
            response = await self.http.post(self.token_url, data=form, auth=(self.client_id, self.client_secret))
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"identity provider unreachable at {self.token_url}: {exc}") from exc
        body = _json(response)
        if response.status_code == 400 and body.get("error") == "invalid_grant":
            raise Unauthorized(
                f"The identity provider refused to act on this token: {body.get('error_description', '')}",
                slug="invalid-token",
                title="Invalid token",
                headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE},
            )
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            raise UpstreamUnavailable(
                f"identity provider refused the gateway's token exchange for {self.audience!r}: "
                f"{response.status_code} {response.text[:200]}"
            )
        expires_in = body.get("expires_in", 0)
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 0.0
        issued = (str(body["access_token"]), time.time() + lifetime)
        if self.max_entries > 0:
            if len(self._issued) >= self.max_entries:
                del self._issued[next(iter(self._issued))]  # the oldest
            self._issued[token] = issued
        return issued


def _json(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
