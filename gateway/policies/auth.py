"""Authentication: a bearer JWT verified against the issuer's JWKS, with verified tokens cached.

The JWKSVerifier (servicekit) pins the algorithm per key, refuses `none` and HMAC, refetches the
JWKS on an unknown `kid` at most once per interval and checks iss/aud/exp/nbf/iat. A token that
verified is kept until its `exp` (bounded cache), which saves the ~120 µs ES256 check on repeat calls.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.exchange import Exchange
from servicekit import JWKSVerifier, TokenClaims, Unauthorized

__all__ = ["AuthenticationPolicy", "VerifiedTokenCache"]

_MAX_TOKEN = 8192


class VerifiedTokenCache:
    """Token → claims for tokens that verified, until they expire; the oldest entry goes when full."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, TokenClaims] = {}

    def get(self, token: str) -> TokenClaims | None:
        claims = self._entries.get(token)
        if claims is not None and claims.expires_at <= self.clock():
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: TokenClaims) -> None:
        if self.max_entries <= 0:
            return
        if len(self._entries) >= self.max_entries:
            # dicts keep insertion order: the first key is the oldest entry.
            del self._entries[next(iter(self._entries))]
        self._entries[token] = claims

    def __len__(self) -> int:
        return len(self._entries)


def _missing() -> Unauthorized:
    return Unauthorized(
        "This API needs a bearer token: send `Authorization: Bearer <token>`.",
        slug="missing-token",
        title="Missing token",
        headers={"WWW-Authenticate": "Bearer"},
    )


class AuthenticationPolicy:
    """401 `missing-token` without a bearer token, 401 `invalid-token` for one that does not verify."""

    def __init__(self, verifier: JWKSVerifier, cache: VerifiedTokenCache) -> None:
        self.verifier = verifier
        self.cache = cache

    async def apply(self, exchange: Exchange) -> None:
        authorization = exchange.header(b"authorization")
        if authorization is None:
            raise _missing()
        kind, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            raise _missing()
        if len(token) > _MAX_TOKEN:
            raise Unauthorized(
                "The bearer token is too long.",
                slug="invalid-token",
                title="Invalid token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        claims = self.cache.get(token)
        if claims is None:
            claims = await self.verifier.verify(token)
            self.cache.put(token, claims)
        exchange.token = token
        exchange.claims = claims
