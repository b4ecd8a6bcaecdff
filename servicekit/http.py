"""The service-to-service HTTP client: timeouts, bounded retries, a circuit breaker, context headers.

One client per upstream and process, created in the app's lifespan (never one per request).
Requests travel over aiohttp (`AiohttpTransport`) behind httpx's API: httpx's own connection pool
(httpcore) cost more CPU per call than everything else a workflow step does (bench/README.md).
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from http.cookiejar import Cookie, DefaultCookiePolicy
from typing import Any, Protocol, cast
from urllib.parse import urlencode

import aiohttp
import httpx
import yarl

from servicekit.client_tracing import client_trace_configs
from servicekit.context import outgoing_headers

__all__ = ["AiohttpTransport", "CircuitBreaker", "CircuitOpenError", "ResilientTransport", "create_http_client"]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class CircuitOpenError(httpx.TransportError):
    """The upstream failed repeatedly; calls are refused until the breaker's cool-down passes."""


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; lets one trial call through after `cooldown` s."""

    def __init__(self, threshold: int = 5, cooldown: float = 5.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        return self.state != "open"

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half-open":
            self.opened_at = time.monotonic()


class ResilientTransport(httpx.AsyncBaseTransport):
    """Retries what is safe to retry, with exponential backoff and full jitter.

    A request is retried on a connect failure (it never reached the upstream) whatever its method;
    on a timeout or a 502/503/504 only when it is idempotent (method, or an Idempotency-Key header).
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        retries: int = 2,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        breaker: CircuitBreaker | None = None,
        retry_statuses: frozenset[int] = frozenset({502, 503, 504}),
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.breaker = breaker
        self.retry_statuses = retry_statuses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        idempotent = request.method in _IDEMPOTENT or "idempotency-key" in request.headers
        return await self.attempts(
            lambda: self.inner.handle_async_request(request),
            idempotent=idempotent,
            upstream=f"{request.url.host}:{request.url.port}",
            request=request,
        )

    async def attempts(
        self,
        send: Callable[[], Awaitable[httpx.Response]],
        *,
        idempotent: bool,
        upstream: str,
        request: httpx.Request | None = None,
    ) -> httpx.Response:
        """`send()` once, and again as the rules in the class docstring allow."""
        attempt = 0
        while True:
            if self.breaker is not None and not self.breaker.allow():
                raise CircuitOpenError(f"circuit open for {upstream}", request=request)
            try:
                response = await send()
            except (httpx.ConnectError, httpx.ConnectTimeout):
                self._failed()
                if attempt >= self.retries:
                    raise
            except httpx.TimeoutException:
                self._failed()
                if attempt >= self.retries or not idempotent:
                    raise
            else:
                if response.status_code not in self.retry_statuses:
                    if self.breaker is not None:
                        self.breaker.record_success()
                    return response
                self._failed()
                if attempt >= self.retries or not idempotent:
                    return response
                await response.aclose()
            attempt += 1
            delay = min(self.max_backoff, self.backoff * 2**attempt)
            await asyncio.sleep(random.uniform(0, delay))  # noqa: S311 - jitter, not cryptography

    def _failed(self) -> None:
        if self.breaker is not None:
            self.breaker.record_failure()

    async def aclose(self) -> None:
        await self.inner.aclose()


#: Request headers aiohttp computes itself from the body and the connection it uses.
_HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx requests sent through one aiohttp session (keep-alive pool, no cookie jar).

    Bodies are read whole (our calls never stream) and left encoded as received, so httpx decodes
    them as its own transport would. aiohttp failures map onto httpx's exception classes, keeping
    `ResilientTransport`'s retry rules: a connect failure or connect timeout never reached the
    upstream; a read timeout or a dropped connection may have.
    """

    def __init__(self, *, limit: int = 100, keepalive: float = 15.0) -> None:
        self.limit = limit
        self.keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop it is made in.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limit, keepalive_timeout=self.keepalive),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                trace_configs=client_trace_configs(),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _HOP_HEADERS]
        body = await request.aread()
        return await self.send(
            request.method,
            str(request.url),
            headers=headers,
            body=body,
            limits=request.extensions.get("timeout", {}),
            request=lambda: request,
        )

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: list[tuple[str, str]],
        body: bytes | None,
        limits: Mapping[str, float | None],
        request: Callable[[], httpx.Request],
    ) -> httpx.Response:
        """One exchange; `url` is already encoded; `request()` names the request in an httpx error."""
        timeout = aiohttp.ClientTimeout(
            total=None, connect=limits.get("pool"), sock_connect=limits.get("connect"), sock_read=limits.get("read")
        )
        try:
            async with self._open().request(
                method,
                yarl.URL(url, encoded=True),
                headers=headers,
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as answer:
                content = await answer.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request()) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request()) from exc
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=request()) from exc
        except aiohttp.ServerDisconnectedError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request()) from exc
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request()) from exc
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            content=content,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (answer.reason or "").encode()},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _add_context_headers(request: httpx.Request) -> None:
    for name, value in outgoing_headers().items():
        if name not in request.headers:
            request.headers[name] = value


def create_http_client(
    base_url: str,
    *,
    timeout: float = 10.0,
    connect_timeout: float = 2.0,
    retries: int = 2,
    breaker: CircuitBreaker | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient that forwards correlation/trace headers and keeps no cookies between callers."""
    resilient = ResilientTransport(
        transport or AiohttpTransport(), retries=retries, breaker=breaker or CircuitBreaker()
    )
    client = _ServiceClient(
        resilient,
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        transport=resilient,
        auth=auth,
        event_hooks={"request": [_add_context_headers]},
        follow_redirects=False,
    )
    client.cookies.jar.set_policy(_NoCookies())
    return client


class _DiscardedCookies(httpx.Cookies):
    """A client's cookie store that keeps no response's cookies (and skips parsing them: httpx builds
    urllib request/response adapters for every response, a tenth of a service call's CPU)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _TokenSource(Protocol):
    async def token(self, *, force: bool = False) -> str: ...


class _DirectResponse(httpx.Response):
    """A response of the direct path: its httpx request is built only if someone asks for it."""

    _lazy: tuple[str, str] = ("GET", "")

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = httpx.Request(*self._lazy)
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value


class _ServiceClient(httpx.AsyncClient):
    """An AsyncClient whose cookie store never takes cookies from responses, with a direct path.

    The direct path: `request(method, "/path", content=..., params=..., headers=...)` on our own
    transport chain goes to aiohttp without building httpx's request, URL and auth-flow objects
    (about a third of a service call's CPU in the workflow benchmark), with the same behaviour:
    base URL, default and context headers, bearer token (refreshed once on a 401), timeouts,
    `ResilientTransport`'s retries and circuit breaker. Anything else takes httpx's own path.
    """

    def __init__(self, resilient: ResilientTransport | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _DiscardedCookies()
        inner = resilient.inner if resilient is not None else None
        self._direct = (resilient, inner) if resilient is not None and isinstance(inner, AiohttpTransport) else None
        self._base = str(self.base_url).rstrip("/")
        self._upstream = f"{self.base_url.host}:{self.base_url.port}"
        self._limits = self.timeout.as_dict()

    async def request(  # type: ignore[override]  # same call shapes; extra keywords take httpx's path
        self,
        method: str,
        url: httpx.URL | str,
        *,
        content: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **others: Any,
    ) -> httpx.Response:
        auth = self._auth
        direct = self._direct
        if (
            direct is None
            or others
            or not isinstance(url, str)
            or not url.startswith("/")
            or not isinstance(content, bytes | None)
            or (auth is not None and not callable(getattr(auth, "token", None)))
            or self._event_hooks["request"] != [_add_context_headers]
            or self._event_hooks["response"]
        ):
            return await super().request(method, url, content=content, params=params, headers=headers, **others)
        resilient, transport = direct
        target = self._base + url
        if params:
            target += ("&" if "?" in url else "?") + urlencode({k: _query_value(v) for k, v in params.items()})
        merged = {k.lower(): (k, v) for k, v in self.headers.items()}
        for name, value in outgoing_headers().items():
            merged.setdefault(name.lower(), (name, value))
        for name, value in (headers or {}).items():
            merged[name.lower()] = (name, value)
        source = cast(_TokenSource, auth) if auth is not None else None
        if source is not None:
            merged["authorization"] = ("Authorization", f"Bearer {await source.token()}")
        idempotent = method in _IDEMPOTENT or "idempotency-key" in merged

        def named() -> httpx.Request:
            return httpx.Request(method, target)

        async def send() -> httpx.Response:
            sent = [pair for key, pair in merged.items() if key not in _HOP_HEADERS]
            return await transport.send(method, target, headers=sent, body=content, limits=self._limits, request=named)

        response = await resilient.attempts(send, idempotent=idempotent, upstream=self._upstream)
        if response.status_code == 401 and source is not None:
            merged["authorization"] = ("Authorization", f"Bearer {await source.token(force=True)}")
            response = await resilient.attempts(send, idempotent=idempotent, upstream=self._upstream)
        response.__class__ = _DirectResponse
        cast(_DirectResponse, response)._lazy = (method, target)
        return response


def _query_value(value: Any) -> str:
    """A query parameter value as httpx writes it (booleans lower-case, None empty)."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


class _NoCookies(DefaultCookiePolicy):
    """A cookie policy that accepts nothing: a shared client must not replay one caller's cookies."""

    def set_ok(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: urllib.request.Request) -> bool:
        return False
