"""Bearer tokens between services: verify against a JWKS, obtain by client credentials.

The verifier pins the algorithm to each key (never `none`, never HMAC with a public key), refetches
the JWKS on an unknown `kid` at most once per interval, and checks `iss`, `aud`, `exp`, `nbf`, `iat`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable
from typing import Any

import httpx
import jwt
import msgspec
from jwt import PyJWK, PyJWKSet
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from servicekit.errors import Forbidden, Unauthorized, UpstreamUnavailable

__all__ = [
    "ClientCredentialsAuth",
    "JWKSVerifier",
    "ScopeGuard",
    "ServiceAuthMiddleware",
    "TokenClaims",
    "claims_of",
    "require_scopes",
]

ASYMMETRIC = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


class TokenClaims(msgspec.Struct, kw_only=True, frozen=True):
    """What the project reads from a verified token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    legal_entities: frozenset[str]
    expires_at: int
    raw: dict[str, Any]


def _bad_token(detail: str) -> Unauthorized:
    return Unauthorized(detail, slug="invalid-token", title="Invalid token", headers={"WWW-Authenticate": "Bearer"})


class JWKSVerifier:
    """Verifies bearer JWTs against one issuer's JWKS, fetched over HTTP and cached by `kid`.

    A token that verified is accepted again without its signature check until its own `exp` or for
    `cache_ttl` seconds, whichever comes first (services see the same service token on every call;
    the ES256 check was about a sixth of a system API's CPU per request). A token that failed is
    never cached. At most `cache_size` tokens are kept; `cache_ttl=0` checks every time.
    """

    def __init__(
        self,
        jwks_url: str,
        *,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        algorithms: Iterable[str] = ("ES256", "RS256"),
        leeway: float = 30.0,
        min_refresh_interval: float = 10.0,
        cache_ttl: float = 60.0,
        cache_size: int = 1024,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.http = http
        self.algorithms = frozenset(a for a in algorithms if a in ASYMMETRIC)
        self.leeway = leeway
        self.min_refresh_interval = min_refresh_interval
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._verified: dict[str, tuple[float, TokenClaims]] = {}

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self.min_refresh_interval:
                return
            try:
                response = await self.http.get(self.jwks_url)
                response.raise_for_status()
                keyset = PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                raise UpstreamUnavailable(f"cannot load the issuer's JWKS from {self.jwks_url}: {exc}") from exc
            finally:
                self._fetched_at = time.monotonic()
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}

    async def key_for(self, kid: str) -> PyJWK | None:
        if kid not in self._keys:
            await self.refresh()
        return self._keys.get(kid)

    async def verify(self, token: str) -> TokenClaims:
        """The token's claims; Unauthorized (`invalid-token`) with the reason when it does not verify."""
        now = time.time()
        hit = self._verified.get(token)
        if hit is not None and now < hit[0]:
            return hit[1]
        claims = await self.check(token)
        if self.cache_ttl > 0:
            if len(self._verified) >= self.cache_size:
                self._verified.clear()
            self._verified[token] = (min(now + self.cache_ttl, float(claims.expires_at)), claims)
        return claims

    async def check(self, token: str) -> TokenClaims:
        """Verify `token` now: header, key, signature and claims (no cache)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise _bad_token(f"the bearer token is not a JWT: {exc}") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise _bad_token(f"token algorithm {alg!r} is not accepted")
        if not isinstance(kid, str):
            raise _bad_token("token has no key id (kid)")
        key = await self.key_for(kid)
        if key is None:
            raise _bad_token(f"token key id {kid!r} is not in the issuer's JWKS")
        if key.algorithm_name != alg:
            raise _bad_token(f"key {kid!r} is pinned to {key.algorithm_name}, token says {alg}")
        try:
            raw = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _bad_token("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise _bad_token("token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise _bad_token(f"token audience is not {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise _bad_token(f"token issuer is not {self.issuer!r}") from None
        except jwt.PyJWTError as exc:
            raise _bad_token(f"token rejected: {exc}") from None
        return claims_from(raw)


def claims_from(raw: dict[str, Any]) -> TokenClaims:
    scope = raw.get("scope", "")
    entities = raw.get("legal_entities", [])
    return TokenClaims(
        subject=str(raw["sub"]),
        client_id=str(raw.get("client_id", raw["sub"])),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        legal_entities=frozenset(e for e in entities if isinstance(e, str))
        if isinstance(entities, list)
        else frozenset(),
        expires_at=int(raw["exp"]),
        raw=raw,
    )


class ServiceAuthMiddleware(ASGIMiddleware):
    """Requires a verified bearer token on every route but health and schema.

    The verifier is read from `app.state.verifier` (created in the lifespan); claims land in
    `scope["state"]["claims"]`, where `require_scopes` and handlers find them.
    """

    scopes = (ScopeType.HTTP,)

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        path = scope.get("path", "")
        # `/metrics` is for the scraper on the internal network (the gateway never forwards it).
        return path.startswith(("/health/", "/schema")) or path == "/metrics"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        authorization = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        kind, _, token = authorization.partition(" ")
        if kind.lower() != "bearer" or not token:
            raise Unauthorized(
                "This API needs a bearer token: send `Authorization: Bearer <token>`.",
                slug="missing-token",
                title="Missing token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        verifier: JWKSVerifier = scope["app"].state.verifier
        scope.setdefault("state", {})["claims"] = await verifier.verify(token.strip())
        await next_app(scope, receive, send)


def claims_of(scope: Scope) -> TokenClaims | None:
    claims = scope.get("state", {}).get("claims")
    return claims if isinstance(claims, TokenClaims) else None


class ScopeGuard:
    """A Litestar guard: the verified token must carry every scope in `scopes`.

    The app factory also copies `scopes` into the operation's OpenAPI `security`, so the published
    document states exactly what the code enforces.
    """

    def __init__(self, scopes: tuple[str, ...]) -> None:
        self.scopes = scopes

    async def __call__(self, connection: Any, _: Any) -> None:
        # Async on purpose: Litestar runs a sync guard in its thread pool (a thread hop per request).
        if not connection.app.state.get("auth_required", True):
            return
        claims = claims_of(connection.scope)
        missing = [s for s in self.scopes if claims is None or s not in claims.scopes]
        if missing:
            raise Forbidden(
                f"The token lacks the scope(s) {', '.join(missing)} this operation needs.",
                slug="insufficient-scope",
                title="Insufficient scope",
                extensions={"required_scopes": list(self.scopes)},
            )


def require_scopes(*needed: str) -> ScopeGuard:
    """The guard for an operation that needs every scope in `needed`."""
    return ScopeGuard(needed)


class ClientCredentialsAuth(httpx.Auth):
    """Gets an OAuth2 client-credentials token, caches it until shortly before expiry, retries a 401 once."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        http: httpx.AsyncClient | None = None,
        skew: float = 30.0,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.http = http or httpx.AsyncClient(timeout=5.0)
        self.skew = skew
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self, *, force: bool = False) -> str:
        async with self._lock:
            if force or self._token is None or time.monotonic() >= self._expires:
                try:
                    response = await self.http.post(
                        self.token_url,
                        data={"grant_type": "client_credentials", "scope": self.scope},
                        auth=(self.client_id, self.client_secret),
                    )
                except httpx.HTTPError as exc:
                    raise UpstreamUnavailable(f"identity provider unreachable at {self.token_url}: {exc}") from exc
                if response.status_code != 200:
                    raise UpstreamUnavailable(
                        f"identity provider refused client {self.client_id!r}: "
                        f"{response.status_code} {response.text[:200]}"
                    )
                body = response.json()
                self._token = str(body["access_token"])
                self._expires = time.monotonic() + float(body.get("expires_in", 300)) - self.skew
            return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = f"Bearer {await self.token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self.token(force=True)}"
            yield request
