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
    #: The client registry with hashed secrets (TOML, or the JSON `fig up` generates under var/).
    #: Required: the embedded `clients.toml` is a template without secrets and stops start-up.
    clients_path: str | None = None
    #: The people who may sign in (roles, entities, hashed passwords); unset, nobody can.
    users_path: str | None = None
    #: Serve `POST /__admin/rotate-key`, for callers presenting `Authorization: Bearer <admin_token>`.
    admin_enabled: bool = False
    admin_token: str | None = None
    #: The one browser origin (`https://console.example.com`) allowed to call the IdP across origins.
    console_origin: str | None = None
    #: Failed client authentications (or sign-ins) per client (or person) and per source address
    #: within `auth_failure_window` seconds before further attempts get 429 until the window ends.
    auth_failure_limit: int = 10
    auth_failure_address_limit: int = 50
    auth_failure_window: int = 300
    #: Lifetimes (s): a login form, an authorization code, a refresh token (idle, rotated on use).
    login_ttl: int = 600
    code_ttl: int = 60
    refresh_ttl: int = 28800

    @property
    def effective_issuer(self) -> str:
        return self.issuer or self.token_issuer

    @property
    def effective_audience(self) -> str:
        return self.audience or self.token_audience
