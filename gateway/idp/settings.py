"""Settings of the dev identity provider (`FIG_`-prefixed environment variables)."""

from __future__ import annotations

from servicekit import ServiceSettings

__all__ = ["IdpSettings"]


class IdpSettings(ServiceSettings, kw_only=True, frozen=True):
    """The dev IdP: who it says it is, how long its tokens live, where its keys and clients are."""

    port: int = 8400
    #: The `iss` of every token and the base of the discovery document's URLs; unset, the
    #: `token_issuer` every service verifies against (so one FIG_TOKEN_ISSUER serves both sides).
    issuer: str | None = None
    #: The `aud` of every token; unset, `token_audience` ("fig").
    audience: str | None = None
    token_ttl: int = 900
    #: How long a rotated-out key stays in the JWKS, so tokens it signed still verify (>= token_ttl).
    key_grace_seconds: int = 1800
    #: Directory for the signing keys (PEM in a JSON file); unset keeps keys in memory only.
    data_dir: str | None = None
    #: A TOML client registry; unset uses the embedded dev registry (`clients.toml`).
    clients_path: str | None = None
    #: Serve `POST /__admin/rotate-key`; a dev IdP on localhost, so on by default.
    admin_enabled: bool = True

    @property
    def effective_issuer(self) -> str:
        return self.issuer or self.token_issuer

    @property
    def effective_audience(self) -> str:
        return self.audience or self.token_audience
