"""Upstream services: one shared httpx client each, created in the lifespan and closed with it."""

from __future__ import annotations

import urllib.request
from http.cookiejar import Cookie, DefaultCookiePolicy

import httpx

from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.settings import GatewaySettings
from gateway.transport import ProxyTransport
from servicekit import CircuitBreaker

__all__ = ["Upstream", "resolve_upstream_urls"]


def resolve_upstream_urls(config: GatewayConfig, settings: GatewaySettings) -> dict[str, str]:
    """Each upstream's base URL: the setting `<name>_url` if the gateway has one, else the file's `url`."""
    urls: dict[str, str] = {}
    for name, upstream in config.upstreams.items():
        url = getattr(settings, f"{name.replace('-', '_')}_url", None) or upstream.url
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"upstream {name!r} has no http(s) URL: set FIG_{name.upper().replace('-', '_')}_URL "
                f"or `url` - at `$.upstreams.{name}.url`"
            )
        urls[name] = url.rstrip("/")
    return urls


class _NoCookies(DefaultCookiePolicy):
    """Accept and send no cookies: a shared client must never replay one caller's cookies to another."""

    def set_ok(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return False


class Upstream:
    """A named upstream: its base URL, its shared client and its circuit breaker."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float,
        connect_timeout: float,
        retries: int,
        health_path: str,
        breaker: CircuitBreaker,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = name
        self.url = url
        #: scheme://host:port of the upstream, to turn its absolute `Location`s into paths.
        self.origin = "/".join(url.split("/", 3)[:3]).encode("latin-1")
        self.health_path = health_path
        self.breaker = breaker
        self.client = httpx.AsyncClient(
            base_url=url,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            transport=ProxyTransport(transport or httpx.AsyncHTTPTransport(), retries=retries, breaker=breaker),
            # identity: the body goes back to the caller as is, never decoded and re-encoded here.
            headers={"accept-encoding": "identity", "user-agent": "fig-gateway"},
            follow_redirects=False,
            trust_env=False,
        )
        self.client.cookies.jar.set_policy(_NoCookies())

    @classmethod
    def from_config(cls, config: GatewayConfig, urls: dict[str, str]) -> dict[str, Upstream]:
        return {
            name: cls(
                name,
                urls[name],
                timeout=up.timeout,
                connect_timeout=up.connect_timeout,
                retries=up.retries,
                health_path=up.health_path,
                breaker=CircuitBreaker(up.breaker_threshold, up.breaker_cooldown),
            )
            for name, up in config.upstreams.items()
        }

    async def aclose(self) -> None:
        await self.client.aclose()
