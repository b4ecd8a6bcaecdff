"""OpenID Connect Discovery 1.0: a provider's endpoints from its metadata document.

`discover` reads `<issuer>/.well-known/openid-configuration` (through a client whose base URL may
be the provider's internal address) and refuses a document whose `issuer` is not exactly the one
configured (Discovery section 4.3: the guard against a document that speaks for another issuer).
Only the fields a relying party of this project uses are read; the rest of the document is ignored.
"""

from __future__ import annotations

import httpx
import msgspec

__all__ = ["WELL_KNOWN", "DiscoveryFailed", "ProviderMetadata", "discover"]

WELL_KNOWN = "/.well-known/openid-configuration"


class DiscoveryFailed(Exception):
    """The provider's metadata could not be read or does not describe the configured issuer."""


class ProviderMetadata(msgspec.Struct, kw_only=True, frozen=True):
    """The endpoints of an OpenID provider, as its discovery document states them."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None
    code_challenge_methods_supported: list[str] = msgspec.field(default_factory=list)


_decoder = msgspec.json.Decoder(ProviderMetadata)


async def discover(http: httpx.AsyncClient, issuer: str, *, document_url: str = WELL_KNOWN) -> ProviderMetadata:
    """The metadata of `issuer`, read from `document_url` (by default the discovery document under
    `http`'s base URL).

    DiscoveryFailed (with the reason) when the document cannot be fetched, is not a metadata
    document, names another issuer, or does not offer PKCE with S256 while listing methods.
    """
    try:
        response = await http.get(document_url)
    except httpx.HTTPError as exc:
        raise DiscoveryFailed(f"the identity provider's discovery document could not be read: {exc}") from exc
    if response.status_code != 200:
        raise DiscoveryFailed(f"the identity provider answered {response.status_code} for {WELL_KNOWN}")
    try:
        metadata = _decoder.decode(response.content)
    except msgspec.DecodeError as exc:
        raise DiscoveryFailed(f"the identity provider's discovery document is not usable: {exc}") from exc
    if metadata.issuer != issuer:
        raise DiscoveryFailed(
            f"the discovery document is for issuer {metadata.issuer!r}, not the configured {issuer!r} "
            "(FIG_TOKEN_ISSUER must be the provider's issuer exactly)"
        )
    methods = metadata.code_challenge_methods_supported
    if methods and "S256" not in methods:
        raise DiscoveryFailed(f"the identity provider does not offer PKCE with S256 (it offers {methods})")
    return metadata
