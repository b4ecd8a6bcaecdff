"""Authentication: a bearer JWT verified against its (trusted) issuer's JWKS, verified tokens cached.

The issuer is read from the unverified `iss` only to pick the verifier: the signature, `iss`, `aud`,
`exp`, `nbf` and `iat` are then checked by that issuer's JWKSVerifier (servicekit), which pins the
algorithm per key, refuses `none` and HMAC, and refetches the JWKS on an unknown `kid` at most once
per interval. A token that verified is kept until its `exp` or the end of its key set's lifetime
(bounded cache), which saves the ~120 µs ES256 check on repeat calls. Tokens longer than 8 KiB are
refused unparsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import jwt

from gateway.delegation import TokenExchanger
from gateway.exchange import Exchange
from servicekit import TokenClaims, Unauthorized
from servicekit.auth import INVALID_TOKEN_CHALLENGE, duplicate_authorization

__all__ = ["AuthenticationPolicy", "VerifiedTokenCache"]

_MAX_TOKEN = 8192


class VerifiedTokenCache:
    """Token → (claims, upstream token) for tokens that verified, until a deadline; the oldest
    entry goes when full.

    The deadline is the token's `exp` or, if sooner, the end of the lifetime of the key set that
    verified it (a key that leaves the issuer's JWKS takes the tokens it verified with it) or of
    the upstream token obtained for it.
    """

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, TokenClaims, str | None]] = {}

    def get(self, token: str) -> tuple[TokenClaims, str | None] | None:
        """The claims and the upstream token (None: forward the caller's), or None if not cached."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if entry[0] <= self.clock():
            del self._entries[token]
            return None
        return entry[1], entry[2]

    def put(self, token: str, claims: TokenClaims, until: float | None = None, upstream: str | None = None) -> None:
        """Keep `claims` (and `upstream`) until `until` (wall clock) or the token's `exp`, whichever is sooner."""
        if self.max_entries <= 0:
            return
        if len(self._entries) >= self.max_entries:
            # dicts keep insertion order: the first key is the oldest entry.
            del self._entries[next(iter(self._entries))]
        deadline = float(claims.expires_at) if until is None else min(float(claims.expires_at), until)
        self._entries[token] = (deadline, claims, upstream)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _missing() -> Unauthorized:
    return Unauthorized(
        "This API needs a bearer token: send `Authorization: Bearer <token>`.",
        slug="missing-token",
        title="Missing token",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _invalid(detail: str) -> Unauthorized:
    return Unauthorized(
        detail, slug="invalid-token", title="Invalid token", headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE}
    )


class AuthenticationPolicy:
    """401 `missing-token` without a bearer token, 401 `invalid-token` for one that does not verify,
    400 `duplicate-authorization` for two `Authorization` headers."""

    before_routing = True

    def __init__(self, cache: VerifiedTokenCache, exchanger: TokenExchanger | None = None) -> None:
        self.cache = cache
        #: Trades each verified token for the upstream's (None: the caller's token is forwarded).
        self.exchanger = exchanger

    async def apply(self, exchange: Exchange) -> None:
        authorization = None
        for name, value in exchange.headers:
            if name == b"authorization":
                # A comma never occurs in a bearer token: it is two headers joined by an intermediary.
                if authorization is not None or b"," in value:
                    raise duplicate_authorization()
                authorization = value
        if authorization is None:
            raise _missing()
        kind, _, token = authorization.decode("latin-1").partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            raise _missing()
        if len(token) > _MAX_TOKEN:
            raise _invalid(f"The bearer token is longer than {_MAX_TOKEN} characters.")
        cached = self.cache.get(token)
        if cached is not None:
            claims, upstream = cached
        else:
            try:
                issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
            except jwt.PyJWTError as exc:
                raise _invalid(f"the bearer token is not a JWT: {exc}") from None
            verifier = exchange.runtime.verifiers.get(issuer) if isinstance(issuer, str) else None
            if verifier is None:
                raise _invalid(f"token issuer {issuer!r} is not trusted")
            claims = await verifier.verify(token)
            until = verifier.keys_until
            upstream = None
            if self.exchanger is not None:
                upstream, upstream_until = await self.exchanger.exchange(token)
                # Renewed a little before it ends, so it never expires on its way to the upstream.
                until = min(until, upstream_until - self.exchanger.margin)
            self.cache.put(token, claims, until, upstream)
        exchange.token = token
        exchange.upstream_token = upstream
        exchange.claims = claims
