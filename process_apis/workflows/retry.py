"""Bounded retries with exponential backoff and full jitter for transient downstream failures.

A throttle signal wins over the jitter: when the downstream said `Retry-After: s` (Salesforce
REQUEST_LIMIT_EXCEEDED, NetSuite 429, Anaplan 429, or a system API's 503 passing them on), the
next attempt waits at least s seconds, capped by `max_throttle_wait`: a longer throttle spends the
retries at once, so the run is dead-lettered instead of holding a worker.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import msgspec

from process_apis.errors import DownstreamUnavailable

__all__ = ["RetryPolicy", "with_retries"]

log = logging.getLogger("process_apis.retry")

T = TypeVar("T")


class RetryPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """`retries` further attempts after the first; the n-th waits up to `backoff * 2**n` (capped)."""

    retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_throttle_wait: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        jitter = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))  # noqa: S311 - jitter
        return max(jitter, retry_after) if retry_after is not None else jitter


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str) -> tuple[T, int]:
    """Run `call`, retrying DownstreamUnavailable; returns its result and the attempts it took.

    Any other error (a refusal) propagates at once; the last DownstreamUnavailable propagates
    when the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return await call(), attempt + 1
        except DownstreamUnavailable as exc:
            if attempt >= policy.retries or (exc.retry_after or 0.0) > policy.max_throttle_wait:
                raise
            delay = policy.delay(attempt, exc.retry_after)
            log.warning("transient failure, retrying", extra={"step": what, "attempt": attempt + 1, "error": str(exc)})
            await asyncio.sleep(delay)
            attempt += 1
