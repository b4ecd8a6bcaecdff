"""The service-to-service HTTP client: timeouts, bounded retries, a circuit breaker, context headers.

One client per upstream and process, created in the app's lifespan (never one per request).
Requests travel over aiohttp (`AiohttpTransport`) behind httpx's API: httpx's own connection pool
(httpcore) cost more CPU per call than everything else a workflow step does (bench/README.md).
"""

from __future__ import annotations

import asyncio
import ssl
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
from servicekit.resilience import FAILURE_STATUSES, IDEMPOTENT_METHODS, CircuitBreaker, RetryRules, retry_after

__all__ = [
    "AiohttpTransport",
    "CircuitBreaker",
    "CircuitOpenError",
    "ResilientTransport",
    "create_http_client",
    "trusting",
]

_IDEMPOTENT = IDEMPOTENT_METHODS


class CircuitOpenError(httpx.TransportError):
    """The upstream failed repeatedly; calls are refused until the breaker's cool-down passes.

    `retry_after` is the seconds until the breaker lets a trial call through.
    """

    def __init__(self, message: str, *, request: httpx.Request | None = None, retry_after: float = 0.0) -> None:
        super().__init__(message, request=request)
        self.retry_after = retry_after


class ResilientTransport(httpx.AsyncBaseTransport):
    """Retries what is safe to retry, waits as the upstream asks, and counts failures in a breaker.

    The rules are `servicekit.resilience`'s: a connect failure is retried whatever the method; a
    timeout, a reset or broken connection, or a 502/503/504 only when the request is idempotent
    (method, or an Idempotency-Key header). The wait is the answer's `Retry-After` when it is within
    `max_retry_after` (a longer one ends the call with that answer, for the caller to pass on), else
    jittered exponential backoff. A 429 is returned at once and counted neither way.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        retries: int = 2,
        backoff: float = 0.05,
        max_backoff: float = 1.0,
        max_retry_after: float = 2.0,
        breaker: CircuitBreaker | None = None,
        retry_statuses: frozenset[int] = FAILURE_STATUSES,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.rules = RetryRules(
            retries=retries, backoff=backoff, max_backoff=max_backoff, max_retry_after=max_retry_after
        )
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
        """`send()` once, and again as the rules in the class docstring allow.

        When the breaker refuses a repeat, the last outcome stands (that answer, or that error).
        """
        breaker = self.breaker
        attempt = 0
        last: httpx.Response | httpx.TransportError | None = None
        while True:
            if breaker is not None and not breaker.allow():
                if isinstance(last, httpx.Response):
                    return last
                if last is not None:
                    raise last
                raise CircuitOpenError(f"circuit open for {upstream}", request=request, retry_after=breaker.retry_in())
            try:
                response = await send()
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Never reached the upstream: safe to repeat whatever the method.
                self._failed()
                delay = self.rules.delay(attempt)
                if delay is None:
                    raise
                last = exc
            except httpx.TransportError as exc:
                # A timeout, a reset or a broken exchange: the upstream may have acted on it.
                self._failed()
                delay = self.rules.delay(attempt) if idempotent else None
                if delay is None:
                    raise
                last = exc
            else:
                status = response.status_code
                if breaker is not None:
                    breaker.record_status(status)
                if status not in self.retry_statuses or not idempotent:
                    return response
                delay = self.rules.delay(attempt, retry_after(response.headers.get("retry-after")))
                if delay is None:
                    return response
                await response.aread()
                await response.aclose()
                last = response
            attempt += 1
            await asyncio.sleep(delay)

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

    def __init__(self, *, limit: int = 100, keepalive: float = 15.0, ssl_context: ssl.SSLContext | None = None) -> None:
        self.limit = limit
        self.keepalive = keepalive
        #: How HTTPS servers are verified; None: aiohttp's default (the system's trust store).
        self.ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        # Created on first use: a session belongs to the event loop it is made in.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.limit,
                    keepalive_timeout=self.keepalive,
                    ssl=self.ssl_context if self.ssl_context is not None else True,
                ),
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


def trusting(ca_bundle: str | None) -> ssl.SSLContext | None:
    """A client TLS context that trusts the system's authorities and those in `ca_bundle` (None: default)."""
    if not ca_bundle:
        return None
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load the CA bundle {ca_bundle!r}: {exc}") from exc
    return context


def create_http_client(
    base_url: str,
    *,
    timeout: float = 10.0,
    connect_timeout: float = 2.0,
    retries: int = 2,
    max_retry_after: float = 2.0,
    breaker: CircuitBreaker | None = None,
    auth: httpx.Auth | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    ca_bundle: str | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient that forwards correlation/trace headers and keeps no cookies between callers.

    `ca_bundle`: a PEM file of certificate authorities trusted besides the system's, e.g. the local
    CA that signs the sandboxes' HTTPS certificates (ignored when a `transport` is given).
    `max_retry_after`: the longest `Retry-After` a call waits for before repeating itself; a longer
    one ends the call with that answer.
    """
    resilient = ResilientTransport(
        transport or AiohttpTransport(ssl_context=trusting(ca_bundle)),
        retries=retries,
        max_retry_after=max_retry_after,
        breaker=breaker or CircuitBreaker(),
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
