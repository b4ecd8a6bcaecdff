"""The console as an OpenID Connect relying party: authorization code flow with PKCE (S256).

The console is a confidential client: it redeems codes and refreshes tokens with its own secret
over the back channel, so tokens never reach the browser. The ID token comes straight from the
token endpoint over that channel (OpenID Connect Core 3.1.3.7 lets TLS stand in for the signature
there); its issuer, audience, expiry and nonce are checked. The API verifies every access token.

The provider's endpoints come from its discovery document (`FIG_IDP_URL` +
`/.well-known/openid-configuration`, whose `issuer` must be `FIG_TOKEN_ISSUER`), so any OpenID
provider works: Keycloak, Entra ID, Okta, Auth0 or the dev IdP. Browser-facing endpoints move to
`FIG_IDP_PUBLIC_URL`'s host and back-channel ones to `FIG_IDP_URL`'s when those differ from the
issuer's (an internal address for the same provider).
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx
import jwt
import msgspec

from experience.errors import SignInFailed
from experience.settings import ConsoleSettings
from servicekit.oidc_discovery import DiscoveryFailed, ProviderMetadata, discover

__all__ = ["SCOPES", "Identity", "OidcClient", "TokenSet", "pkce_challenge"]

#: How long a read discovery document is used before it is read again (seconds).
_METADATA_TTL = 3600.0

#: What the console asks for; the IdP grants the intersection with the person's roles.
SCOPES = (
    "openid profile offline_access q2c:read q2c:write exceptions:read exceptions:write recon:read recon:write "
    "controls:read controls:write ops:read approvals:read approvals:write"
)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


class TokenSet(msgspec.Struct, kw_only=True, frozen=True):
    access_token: str
    expires_in: int
    id_token: str | None = None
    refresh_token: str | None = None
    scope: str = ""


class Identity(msgspec.Struct, kw_only=True, frozen=True):
    """Who signed in, from the ID token."""

    subject: str
    name: str
    roles: list[str]
    legal_entities: list[str]


_TOKENS = msgspec.json.Decoder(TokenSet)


def _rebased(endpoint: str, base: str | None) -> str:
    """`endpoint` with the scheme and host of `base` (unchanged without one)."""
    if not base:
        return endpoint
    to, parts = urlsplit(base), urlsplit(endpoint)
    return urlunsplit((to.scheme, to.netloc, parts.path, parts.query, parts.fragment))


class OidcClient:
    """Talks to the IdP's token endpoint; builds the browser's authorize and logout addresses."""

    def __init__(self, settings: ConsoleSettings, http: httpx.AsyncClient) -> None:
        if not settings.client_secret:
            raise ValueError("FIG_CLIENT_SECRET (the console client's secret at the IdP) is required")
        self._settings = settings
        self._http = http
        self._auth = (settings.client_id, settings.client_secret)
        self._metadata: ProviderMetadata | None = None
        self._read_at = 0.0

    async def metadata(self) -> ProviderMetadata:
        """The provider's endpoints from its discovery document (read on first use, then hourly)."""
        if self._metadata is None or time.monotonic() - self._read_at > _METADATA_TTL:
            try:
                self._metadata = await discover(self._http, self._settings.token_issuer)
            except DiscoveryFailed as exc:
                raise SignInFailed(f"Sign-in is unavailable: {exc}.") from exc
            self._read_at = time.monotonic()
        return self._metadata

    def _for_browser(self, endpoint: str) -> str:
        """A browser-facing endpoint, moved to `FIG_IDP_PUBLIC_URL`'s scheme and host when set."""
        return _rebased(endpoint, self._settings.idp_public_url)

    def _back_channel(self, endpoint: str) -> str:
        """A server-to-server endpoint, moved to `FIG_IDP_URL`'s scheme and host."""
        return _rebased(endpoint, self._settings.idp_url)

    async def authorize_url(self, *, state: str, verifier: str, nonce: str) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._settings.client_id,
                "redirect_uri": self._settings.redirect_uri,
                "scope": SCOPES,
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{self._for_browser((await self.metadata()).authorization_endpoint)}?{query}"

    async def logout_url(self, id_token: str) -> str:
        """The provider's RP-initiated logout; the console's own start page when it offers none."""
        end_session = (await self.metadata()).end_session_endpoint
        if end_session is None:
            return f"{self._settings.public_url.rstrip('/')}/"
        query = urlencode(
            {
                "id_token_hint": id_token,
                "client_id": self._settings.client_id,
                "post_logout_redirect_uri": f"{self._settings.public_url.rstrip('/')}/",
            }
        )
        return f"{self._for_browser(end_session)}?{query}"

    async def _token(self, form: dict[str, str]) -> TokenSet:
        try:
            token_endpoint = self._back_channel((await self.metadata()).token_endpoint)
            response = await self._http.post(token_endpoint, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise SignInFailed(f"The identity provider could not be reached: {exc}") from exc
        if response.status_code != 200:
            try:
                body: Any = response.json()
                reason = f"{body.get('error')}: {body.get('error_description', '')}"
            except ValueError:
                reason = f"HTTP {response.status_code}"
            raise SignInFailed(f"The identity provider refused the sign-in ({reason}).")
        try:
            return _TOKENS.decode(response.content)
        except msgspec.DecodeError as exc:
            raise SignInFailed(f"The identity provider's token response is not usable: {exc}") from exc

    async def redeem(self, code: str, verifier: str) -> TokenSet:
        return await self._token(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._settings.redirect_uri,
                "code_verifier": verifier,
            }
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        return await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def identity(self, tokens: TokenSet, nonce: str) -> Identity:
        """The person of `tokens`' ID token, after checking it was issued to us, now, for this sign-in."""
        if not tokens.id_token:
            raise SignInFailed("The identity provider sent no ID token (scope openid).")
        try:
            claims = jwt.decode(
                tokens.id_token,
                options={"verify_signature": False, "require": ["iss", "sub", "aud", "exp"]},
                audience=self._settings.client_id,
                issuer=self._settings.token_issuer,
            )
        except jwt.PyJWTError as exc:
            raise SignInFailed(f"The ID token is not valid for this console: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise SignInFailed("The ID token does not belong to this sign-in (nonce).")
        if int(claims["exp"]) < time.time():
            raise SignInFailed("The ID token has expired.")
        return Identity(
            subject=str(claims["sub"]),
            name=str(claims.get("name") or claims["sub"]),
            roles=[str(r) for r in claims.get("roles", [])],
            legal_entities=[str(e) for e in claims.get("legal_entities", [])],
        )
