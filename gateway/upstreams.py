"""Upstream services: one shared aiohttp session each (per worker), created in the lifespan.

Why aiohttp on the forwarding path (httpx stays the client everywhere else): httpx's connection
pool costs several times aiohttp's per forwarded request (encode/httpx#3215; the figures are in
bench/README.md, "Decisions" in ARCHITECTURE.md). The session keeps
connections alive, keeps no cookies (`DummyCookieJar`: a shared client that stored cookies replayed
one caller's `Set-Cookie` to the next), never decompresses (bodies pass through as sent), and never
follows redirects.

`Upstream.send` adds what the proxy needs: per-upstream connect/read timeouts, and the same retry
and circuit-breaker rules as every service client (`servicekit.resilience`): a connect failure is
repeated whatever the method (with a body in hand); a timeout, a reset connection or a 502/503/504
answer only for an idempotent method, after the answer's `Retry-After` when that is within
`max_retry_after` (else the answer goes back as it is) or jittered backoff; a 429 is passed back and
counted neither way; the breaker opens after `breaker_threshold` consecutive failures and then lets
one trial call through per cool-down. A POST that may have reached the upstream is never repeated
here, Idempotency-Key or not: the caller's retry through the idempotency policy is what makes that
safe.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

import aiohttp
from yarl import URL

from gateway.config import GatewayConfig
from gateway.errors import ConfigError
from gateway.settings import GatewaySettings
from servicekit import CircuitBreaker, ProblemError, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from servicekit.resilience import FAILURE_STATUSES, IDEMPOTENT_METHODS, RetryRules, retry_after

__all__ = ["IDEMPOTENT_METHODS", "Upstream", "resolve_upstream_urls"]

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
        max_retry_after: float = 1.0,
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
        self.rules = RetryRules(
            retries=retries, backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after
        )
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
        idempotent = replayable and method in IDEMPOTENT_METHODS
        rules, breaker = self.rules, self.breaker
        url = URL(self.url + path_and_query, encoded=True)
        attempt = 0
        failed: ProblemError | None = None  # the last failure, which stands when the breaker refuses a repeat
        while True:
            if not breaker.allow():
                raise failed or UpstreamUnavailable(
                    f"The {self.name} service failed repeatedly; calls are paused for a few seconds.",
                    slug="circuit-open",
                    title="Upstream circuit open",
                    headers=self._retry_after(),
                )
            try:
                response = await self.session.request(
                    method, url, headers=headers, data=body, allow_redirects=False, compress=None
                )
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError):
                # Never reached the upstream: safe to repeat whatever the method.
                breaker.record_failure()
                failed = UpstreamUnavailable(f"The {self.name} service is not reachable.", headers=self._retry_after())
                delay = rules.delay(attempt) if replayable else None
            except (aiohttp.ClientError, TimeoutError) as exc:
                # A read timeout, a reset or a broken exchange: the upstream may have acted on it.
                breaker.record_failure()
                if isinstance(exc, TimeoutError):
                    failed = UpstreamTimeout(f"The {self.name} service did not answer in time.")
                else:
                    failed = UpstreamError(f"The {self.name} service broke off the exchange.")
                delay = rules.delay(attempt) if idempotent else None
            else:
                status = response.status
                breaker.record_status(status)
                if status not in FAILURE_STATUSES or not idempotent:
                    return response
                delay = rules.delay(attempt, retry_after(response.headers.get("Retry-After")))
                if delay is None:
                    return response
                response.release()
                failed = None
            if delay is None:
                raise failed or UpstreamError(f"The {self.name} service failed.")  # answers returned above
            attempt += 1
            await asyncio.sleep(delay)

    def _retry_after(self) -> dict[str, str]:
        """A refusal's `Retry-After`: when the breaker lets a call through again, at least a second."""
        return {"Retry-After": str(max(1, math.ceil(self.breaker.retry_in())))}

    @classmethod
    def from_config(cls, config: GatewayConfig, urls: dict[str, str]) -> dict[str, Upstream]:
        return {
            up.name: cls(
                up.name,
                urls[up.name],
                timeout=up.timeout,
                connect_timeout=up.connect_timeout,
                retries=up.retries,
                max_retry_after=up.max_retry_after,
                health_path=up.health_path,
                breaker=CircuitBreaker(up.breaker_threshold, up.breaker_cooldown),
            )
            for up in config.upstreams
            if up.name in urls
        }

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
