"""Bearer tokens between services: verify against a JWKS, obtain by client credentials.

The verifier pins the algorithm to each key (never `none`, never HMAC with a public key), keeps the
JWKS only as long as its `Cache-Control: max-age` allows (bounded by a configured maximum), refetches
it on expiry or an unknown `kid` at most once per interval, and checks `iss`, `aud`, `exp`, `nbf`,
`iat` (JSON numbers only), the token type where configured, and the canonical encoding
(`servicekit.jose`: no padding, no stray characters, low-S ECDSA signatures).
"""

from __future__ import annotations

import asyncio
import logging
import re
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

from servicekit.errors import BadRequest, Forbidden, Unauthorized, UpstreamUnavailable
from servicekit.jose import MalformedToken, check_compact
from servicekit.oidc_discovery import WELL_KNOWN, DiscoveryFailed, discover

__all__ = [
    "INVALID_TOKEN_CHALLENGE",
    "ClientCredentialsAuth",
    "JWKSVerifier",
    "ScopeGuard",
    "ServiceAuthMiddleware",
    "TokenClaims",
    "cache_lifetime",
    "claims_of",
    "duplicate_authorization",
    "require_scopes",
]

log = logging.getLogger("servicekit.auth")

ASYMMETRIC = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA")


class TokenClaims(msgspec.Struct, kw_only=True, frozen=True):
    """What the project reads from a verified token."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    legal_entities: frozenset[str]
    expires_at: int
    raw: dict[str, Any]


#: RFC 6750 section 3.1: the challenge for a request whose token was presented but refused.
INVALID_TOKEN_CHALLENGE = 'Bearer error="invalid_token"'
_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)")
_NUMERIC_DATES = ("exp", "nbf", "iat")


def _bad_token(detail: str) -> Unauthorized:
    return Unauthorized(
        detail, slug="invalid-token", title="Invalid token", headers={"WWW-Authenticate": INVALID_TOKEN_CHALLENGE}
    )


def cache_lifetime(cache_control: str | None, *, default: float, maximum: float) -> float:
    """Seconds a response may be reused: its `max-age` (0 for `no-store`/`no-cache`), else `default`;
    never more than `maximum`."""
    if cache_control is None:
        return min(default, maximum)
    lowered = cache_control.lower()
    if "no-store" in lowered or "no-cache" in lowered:
        return 0.0
    match = _MAX_AGE.search(lowered)
    return min(float(match.group(1)) if match else default, maximum)


class JWKSVerifier:
    """Verifies bearer JWTs against one issuer's JWKS, fetched over HTTP and cached by `kid`.

    The key set is kept for the JWKS response's `max-age` (at most `max_keys_age` seconds, at least
    `min_refresh_interval`), then fetched again on the next verification; keys that left the set
    are forgotten, so a retired key stops verifying within that lifetime. If the refetch fails, the
    keys in hand stay in use and the fetch is retried after `min_refresh_interval`.

    A token that verified is accepted again without its signature check until its own `exp`, for
    `cache_ttl` seconds, or until the key set it was checked against expires, whichever comes first
    (services see the same service token on every call; the ES256 check was about a sixth of a
    system API's CPU per request). A token that failed is never cached. At most `cache_size` tokens
    are kept; `cache_ttl=0` checks every time. `token_type`, when set, is the JOSE `typ` required
    (`at+jwt` for RFC 9068 access tokens; `application/` may prefix it).

    `jwks_url` None: the `jwks_uri` of the issuer's OpenID discovery document
    (`<issuer>/.well-known/openid-configuration`, whose `issuer` must match), read on the first fetch.
    """

    def __init__(
        self,
        jwks_url: str | None,
        *,
        issuer: str,
        audience: str,
        http: httpx.AsyncClient,
        algorithms: Iterable[str] = ("ES256", "RS256"),
        leeway: float = 30.0,
        min_refresh_interval: float = 10.0,
        max_keys_age: float = 300.0,
        cache_ttl: float = 60.0,
        cache_size: int = 1024,
        token_type: str | None = None,
    ) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.http = http
        self.algorithms = frozenset(a for a in algorithms if a in ASYMMETRIC)
        self.leeway = leeway
        self.min_refresh_interval = min_refresh_interval
        self.max_keys_age = max_keys_age
        self.token_type = token_type.lower().removeprefix("application/") if token_type else None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        #: Wall-clock time until which the key set in hand may be used without refetching.
        self._keys_until = float("-inf")
        self._lock = asyncio.Lock()
        self.cache_ttl = cache_ttl
        self.cache_size = cache_size
        self._verified: dict[str, tuple[float, TokenClaims]] = {}

    @property
    def keys_until(self) -> float:
        """Wall-clock time until which the current key set is trusted without a refetch; caches of
        tokens verified with it must not keep them longer."""
        return self._keys_until

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS (at most once per `min_refresh_interval` unless `force`).

        UpstreamUnavailable when it cannot be fetched and no keys are in hand; with keys in hand a
        failed fetch keeps them for another `min_refresh_interval` (logged as a warning).
        """
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self.min_refresh_interval:
                return
            try:
                response = await self.http.get(await self.resolved_jwks_url())
                response.raise_for_status()
                document = response.json()
                # An empty set is an answer (every key retired), not a failure to keep old keys for.
                empty = isinstance(document, dict) and document.get("keys") == []
                keys = [] if empty else PyJWKSet.from_dict(document).keys
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError, DiscoveryFailed) as exc:
                self._fetched_at = time.monotonic()
                if not self._keys:
                    where = self.jwks_url or f"the discovery document of {self.issuer}"
                    raise UpstreamUnavailable(f"cannot load the issuer's JWKS from {where}: {exc}") from exc
                log.warning("JWKS refetch failed; the keys in hand stay in use", extra={"jwks_url": self.jwks_url})
                self._keys_until = time.time() + self.min_refresh_interval
                return
            self._fetched_at = time.monotonic()
            lifetime = cache_lifetime(
                response.headers.get("cache-control"), default=self.max_keys_age, maximum=self.max_keys_age
            )
            self._keys_until = time.time() + max(lifetime, self.min_refresh_interval)
            self._keys = {k.key_id: k for k in keys if k.key_id}

    async def resolved_jwks_url(self) -> str:
        """The JWKS address: as configured, else from the issuer's discovery document (read once)."""
        if self.jwks_url is None:
            document = f"{self.issuer.rstrip('/')}{WELL_KNOWN}"
            self.jwks_url = (await discover(self.http, self.issuer, document_url=document)).jwks_uri
        return self.jwks_url

    async def key_for(self, kid: str) -> PyJWK | None:
        """The key `kid` of the issuer's current set (refetched once expired or on an unknown `kid`)."""
        if kid not in self._keys or time.time() >= self._keys_until:
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
            self._verified[token] = (min(now + self.cache_ttl, float(claims.expires_at), self._keys_until), claims)
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
        try:
            check_compact(token, alg)
        except MalformedToken as exc:
            raise _bad_token(f"the bearer token is not in canonical JWS compact form: {exc}") from None
        if self.token_type is not None:
            typ = header.get("typ")
            if not isinstance(typ, str) or typ.lower().removeprefix("application/") != self.token_type:
                raise _bad_token(f"token type (typ) is {typ!r}, this API accepts {self.token_type!r} tokens only")
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
        for name in _NUMERIC_DATES:
            value = raw.get(name)
            # PyJWT converts with int(), so "9999999999" or true would pass: RFC 7519 NumericDate only.
            if name in raw and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise _bad_token(f"token claim {name!r} is not a JSON number (RFC 7519 NumericDate)")
        return claims_from(raw)


def claims_from(raw: dict[str, Any]) -> TokenClaims:
    """The project's view of verified claims. The client is `client_id` (RFC 9068), else `azp` (how
    OpenID providers such as Keycloak or Entra ID name the client a person signed in through),
    else the subject (a client-credentials token of a provider that sets neither)."""
    scope = raw.get("scope", "")
    entities = raw.get("legal_entities", [])
    return TokenClaims(
        subject=str(raw["sub"]),
        client_id=str(raw.get("client_id") or raw.get("azp") or raw["sub"]),
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
                # A comma never occurs in a bearer token: it is two headers joined by an intermediary.
                if authorization or b"," in value:
                    raise duplicate_authorization()
                authorization = value.decode("latin-1") or " "
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


def duplicate_authorization() -> BadRequest:
    """400 for a request with more than one `Authorization` header: which one would count is ambiguous
    (RFC 9110 5.3 allows repeating only list-valued fields), so neither does."""
    return BadRequest(
        "The request carries more than one Authorization header; send exactly one.",
        slug="duplicate-authorization",
        title="Duplicate Authorization header",
    )


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
