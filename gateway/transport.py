"""The forwarding transport: bounded retries for idempotent methods only, behind a circuit breaker.

Unlike servicekit's ResilientTransport (which also retries any request that failed to connect),
the proxy never repeats a POST or PATCH: the gateway cannot know what a caller's retry policy is,
and idempotency of those methods is the Idempotency-Key policy's job, not the transport's.
"""

from __future__ import annotations

import asyncio
import random

import httpx

from servicekit import CircuitBreaker, CircuitOpenError

__all__ = ["IDEMPOTENT_METHODS", "ProxyTransport"]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ProxyTransport(httpx.AsyncBaseTransport):
    """Retries an idempotent request after a connect failure or timeout, with jittered backoff.

    Upstream answers (any status) are passed through untouched: a 503 from the upstream is its
    answer to the caller, not a reason for the gateway to try again.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        retries: int,
        breaker: CircuitBreaker,
        backoff: float = 0.05,
        max_backoff: float = 0.5,
    ) -> None:
        self.inner = inner
        self.retries = retries
        self.breaker = breaker
        self.backoff = backoff
        self.max_backoff = max_backoff

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        retries = self.retries if request.method in IDEMPOTENT_METHODS else 0
        attempt = 0
        while True:
            if not self.breaker.allow():
                raise CircuitOpenError(f"circuit open for {request.url.host}:{request.url.port}", request=request)
            try:
                response = await self.inner.handle_async_request(request)
            except (httpx.ConnectError, httpx.TimeoutException):
                self.breaker.record_failure()
                if attempt >= retries:
                    raise
            except httpx.TransportError:
                self.breaker.record_failure()
                raise
            else:
                if response.status_code in (502, 503, 504):
                    self.breaker.record_failure()
                else:
                    self.breaker.record_success()
                return response
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt)))  # noqa: S311 - jitter

    async def aclose(self) -> None:
        await self.inner.aclose()
