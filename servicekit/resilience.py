"""The retry and circuit-breaker rules every outgoing call follows, whatever client sends it.

Shared by the service client (`servicekit.http.ResilientTransport`, httpx over aiohttp) and the
gateway's forwarding path (aiohttp), so both decide alike:
- What is retried: a request that never reached the upstream (connect failure), whatever its
  method; one that may have (a timeout, a reset connection, a 502/503/504 answer) only when it is
  idempotent. A 429 is the caller's to handle: it knows the vendor's throttling rules.
- How long to wait: the upstream's `Retry-After` when it sent one (seconds or an HTTP date), as
  long as that is within `max_retry_after`; a longer one is not waited for inside the call, the
  answer goes back so the caller can pass the hint on. Without it: exponential backoff with full
  jitter.
- What the breaker counts: a failure is no answer at all (connect, timeout, reset) or a 502/503/504;
  a 429 proves neither health nor failure and leaves the count alone; any other answer is a success.
  Open after `threshold` consecutive failures; after `cooldown` one trial call at a time goes
  through (half-open), the others fail fast until it succeeds or fails.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = [
    "FAILURE_STATUSES",
    "IDEMPOTENT_METHODS",
    "THROTTLE_STATUSES",
    "CircuitBreaker",
    "RetryRules",
    "retry_after",
]

#: Methods whose repetition has the same effect as one call (RFC 9110 9.2.2).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers that mean the upstream (or what is behind it) is failing: retried when safe, counted.
FAILURE_STATUSES = frozenset({502, 503, 504})
#: Answers that mean "not now, you are too many": never counted either way by the breaker.
THROTTLE_STATUSES = frozenset({429})


def retry_after(value: str | bytes | None) -> float | None:
    """A `Retry-After` header's wait in seconds (delta-seconds or HTTP date), None when absent or unreadable."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(text) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError, IndexError):
        return None


class RetryRules:
    """How many further attempts and how long before each (see the module docstring)."""

    __slots__ = ("backoff", "max_backoff", "max_retry_after", "retries")

    def __init__(
        self, *, retries: int = 2, backoff: float = 0.05, max_backoff: float = 1.0, max_retry_after: float = 2.0
    ) -> None:
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after

    def delay(self, attempt: int, told: float | None = None) -> float | None:
        """Seconds to wait before repeating after attempt `attempt` (0 = the first) failed, or None
        when no further attempt is due: the attempts are spent, or the upstream asked for a longer
        pause (`told`, its Retry-After) than a call may wait."""
        if attempt >= self.retries:
            return None
        if told is not None:
            return told if told <= self.max_retry_after else None
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt + 1)))  # noqa: S311 - jitter


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `cooldown` s lets one trial call at a time through."""

    def __init__(self, threshold: int = 5, cooldown: float = 5.0) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self.opened_at: float | None = None
        #: When the current half-open trial call was let through (a trial whose caller vanished
        #: without an outcome stops blocking others after another cooldown).
        self.trial_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """Whether a call may go now; in half-open state only the one trial call gets True."""
        if self.opened_at is None:
            return True
        now = time.monotonic()
        if now - self.opened_at < self.cooldown:
            return False
        if self.trial_at is not None and now - self.trial_at < self.cooldown:
            return False
        self.trial_at = now
        return True

    def retry_in(self) -> float:
        """Seconds until a call may be tried again (0 when closed): what a refusal's Retry-After says."""
        if self.opened_at is None:
            return 0.0
        since = self.trial_at if self.trial_at is not None else self.opened_at
        return max(0.0, self.cooldown - (time.monotonic() - since))

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_at = None

    def record_failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = time.monotonic()
            self.trial_at = None

    def record_throttled(self) -> None:
        """The upstream answered "too many requests": no verdict, but a trial call is over."""
        self.trial_at = None

    def record_status(self, status: int) -> None:
        """Count an HTTP answer: a 502/503/504 is a failure, a 429 no verdict, anything else a success."""
        if status in FAILURE_STATUSES:
            self.record_failure()
        elif status in THROTTLE_STATUSES:
            self.record_throttled()
        else:
            self.record_success()
