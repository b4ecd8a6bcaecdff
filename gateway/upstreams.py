"""Upstream services: one shared aiohttp session each (per worker), created in the lifespan.

Why aiohttp on the forwarding path (httpx stays the client everywhere else): measured on this
machine, httpx's default transport forwarded 250-640 requests/s on one core (its connection pool
took most of the time, encode/httpx#3215) against ~3k for one shared aiohttp session
(`../shared/reference/tooling.md`, and bench/README.md for the gateway). The session keeps
connections alive, keeps no cookies (`DummyCookieJar`: a shared client that stored cookies replayed
one caller's `Set-Cookie` to the next), never decompresses (bodies pass through as sent), and never
follows redirects.

`Upstream.send` adds what the proxy needs: per-upstream connect/read timeouts, bounded retries with
jittered backoff for idempotent methods only (after a connect failure or timeout, never after an
answer), and a circuit breaker (open after `breaker_threshold` consecutive failures).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import aiohttp
from yarl import URL

from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.settings import GatewaySettings
from servicekit import CircuitBreaker, UpstreamError, UpstreamTimeout, UpstreamUnavailable

__all__ = ["IDEMPOTENT_METHODS", "Upstream", "resolve_upstream_urls"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Never added by aiohttp on its own: the gateway sends exactly the allow-listed headers.
_SKIP_AUTO = frozenset({"Accept-Encoding", "User-Agent", "Content-Type"})


def resolve_upstream_urls(config: GatewayConfig, settings: GatewaySettings) -> dict[str, str]:
    """Each upstream's base URL: the setting `<name>_url` if the gateway has one, else the file's `url`."""
    urls: dict[str, str] = {}
    for i, upstream in enumerate(config.upstreams):
        name = upstream.name
        url = getattr(settings, f"{name.replace('-', '_')}_url", None) or upstream.url
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"upstream {name!r} has no http(s) URL: set FIG_{name.upper().replace('-', '_')}_URL "
                f"or `url` - at `$.upstreams[{i}].url`"
            )
        urls[name] = url.rstrip("/")
    return urls


class Upstream:
    """A named upstream: its base URL, its shared session, its retry policy and its circuit breaker."""

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
        backoff: float = 0.05,
        max_backoff: float = 0.5,
    ) -> None:
        self.name = name
        self.url = url
        #: scheme://host:port of the upstream, to turn its absolute `Location`s into paths.
        self.origin = "/".join(url.split("/", 3)[:3]).encode("latin-1")
        parsed = URL(url)
        #: Host and port, as the HTTP client semantic conventions name them (`server.address`/`.port`).
        self.host = parsed.host or ""
        self.port = parsed.port or 0
        self.health_path = health_path
        self.breaker = breaker
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the running loop of the worker that uses it.
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=30, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO,
                timeout=self.timeout,
            )
        return self._session

    async def send(
        self,
        method: str,
        path_and_query: str,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
    ) -> aiohttp.ClientResponse:
        """The upstream's answer (body not read yet); ProblemErrors for unreachable/timeout/broken/open.

        A streamed body (an async iterator) goes out chunked and is never retried.
        """
        replayable = body is None or isinstance(body, bytes)
        retries = self.retries if method in IDEMPOTENT_METHODS and replayable else 0
        url = URL(self.url + path_and_query, encoded=True)
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise UpstreamUnavailable(
                    f"The {self.name} service failed repeatedly; calls are paused for a few seconds.",
                    slug="circuit-open",
                    title="Upstream circuit open",
                    headers={"Retry-After": str(max(1, round(self.breaker.cooldown)))},
                )
            try:
                response = await self.session.request(
                    method, url, headers=headers, data=body, allow_redirects=False, compress=None
                )
            except (aiohttp.ClientConnectorError, TimeoutError) as exc:
                self.breaker.record_failure()
                if attempt >= retries:
                    if isinstance(exc, aiohttp.ClientConnectorError):
                        raise UpstreamUnavailable(f"The {self.name} service is not reachable.") from None
                    raise UpstreamTimeout(f"The {self.name} service did not answer in time.") from None
            except aiohttp.ClientError:
                self.breaker.record_failure()
                raise UpstreamError(f"The {self.name} service broke off the exchange.") from None
            else:
                if response.status in (502, 503, 504):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()
                return response
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt)))  # noqa: S311

    @classmethod
    def from_config(cls, config: GatewayConfig, urls: dict[str, str]) -> dict[str, Upstream]:
        return {
            up.name: cls(
                up.name,
                urls[up.name],
                timeout=up.timeout,
                connect_timeout=up.connect_timeout,
                retries=up.retries,
                health_path=up.health_path,
                breaker=CircuitBreaker(up.breaker_threshold, up.breaker_cooldown),
            )
            for up in config.upstreams
            if up.name in urls
        }

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
