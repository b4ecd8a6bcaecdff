"""Settings of the operations console (`FIG_`-prefixed environment variables)."""

from __future__ import annotations

from urllib.parse import urlsplit

from servicekit import ServiceSettings

__all__ = ["ConsoleSettings", "is_loopback_http"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_loopback_http(url: str) -> bool:
    """True for a plain-HTTP address on this machine (the local stack), where a browser may keep
    cookies without `Secure`; any other plain-HTTP address would send the session in clear text."""
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK


class ConsoleSettings(ServiceSettings, kw_only=True, frozen=True):
    """The console: where people reach it, where it signs them in and which API it calls for them."""

    port: int = 8500
    #: The address people open (its `/auth/callback` is the redirect URI registered at the IdP).
    #: Plain HTTP is accepted only on loopback; anywhere else it must be HTTPS.
    public_url: str = "http://127.0.0.1:8500"
    #: The public API the console calls with the signed-in person's token.
    gateway_url: str = "http://127.0.0.1:8000"
    #: The console's client at the identity provider (confidential: authorization code + PKCE).
    client_id: str = "console"
    client_secret: str | None = None
    #: Where browsers are sent to sign in; unset, `idp_url` (the same address serves both locally).
    idp_public_url: str | None = None
    #: A session ends after this many seconds without a request, and at the latest after `session_max_age`.
    session_idle_ttl: int = 1800
    session_max_age: int = 28800
    #: How long a started sign-in may take before its state is forgotten (seconds).
    login_ttl: int = 600
    #: A CA bundle (PEM) trusted for the IdP and the gateway besides the system's.
    ca_bundle: str | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"

    @property
    def browser_idp_url(self) -> str:
        return (self.idp_public_url or self.idp_url).rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return not is_loopback_http(self.public_url)
