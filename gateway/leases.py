"""Token leases: a gateway worker takes a few rate-limit tokens from the shared GCRA at once.

Why: with one GCRA decision per request every request waits for a Redis round trip, and on the
benchmark that wait and its event-loop work cost about a third of the gateway's throughput
(`../shared/reference/tooling.md`, bench/README.md). A lease is charged in Redis *before* any of
its tokens is used, so all instances together still never admit more than the budget: leasing can
only under-admit, never over-admit.

How much it may under-admit is bounded three ways:

- a lease is at most `max_tokens` and at most 1 % of the limit's budget (`requests // 100`), so
  small limits (the ones a person counts, e.g. 20 per minute) stay exact with one decision per
  request, as before;
- a lease starts at one token and only doubles while the worker uses a whole lease within
  `ttl` seconds (the client is busy here and will use the next one too), and drops back to one
  when Redis grants less than asked (the client is near its limit) or a lease expires unused;
- a lease of 4 or more tokens is topped up in the background once three quarters of it are used
  within its lifetime (the top-up asks for twice the lease, within the cap), so a busy client's
  requests rarely wait for Redis at all;
- tokens left when a lease expires are refunded to the GCRA (its TAT moves back by what was not
  used, which is exactly as if they had never been charged).

A refusal is remembered until its `Retry-After`, so a client hammering past its limit costs no
Redis call per request (the only cost: a token refunded by another instance in that interval
waits until the retry time).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

__all__ = ["Grant", "Lease", "LeaseBook"]


@dataclass(slots=True)
class Grant:
    """What the shared GCRA answered for a lease request.

    `granted` tokens were charged (0: refused); `remaining` is what the budget has left after that,
    `retry_after_us` (refusals) and `reset_us` are Redis' figures in microseconds.
    """

    granted: int
    remaining: int
    retry_after_us: int
    reset_us: int


@dataclass(slots=True)
class Lease:
    """One (client, route tier) budget's local state in this worker."""

    size: int = 1
    tokens: int = 0
    expires: float = 0.0
    #: What the shared budget had left when this lease was granted (the `RateLimit` header adds `tokens`).
    remaining: int = 0
    #: Monotonic time at which the shared budget is full again (for the header's `t=`).
    reset_at: float = 0.0
    #: Monotonic time until which this budget is known to be spent (a remembered refusal).
    refused_until: float = 0.0
    refusal: Grant | None = None
    #: The GCRA emission interval (µs per token) the leased tokens were charged at (for refunds).
    interval: float = 0.0
    pending: asyncio.Future[None] | None = None


class LeaseBook:
    """The leases of one worker, keyed by the GCRA key (which names client and route tier)."""

    def __init__(self, *, max_tokens: int = 64, ttl: float = 0.1) -> None:
        self.max_tokens = max(1, max_tokens)
        self.ttl = ttl
        self.leases: dict[str, Lease] = {}

    def cap(self, requests: int) -> int:
        """The largest lease for a limit of `requests` per period: 1 % of it, at most `max_tokens`."""
        return max(1, min(self.max_tokens, requests // 100))

    def get(self, key: str) -> Lease:
        lease = self.leases.get(key)
        if lease is None:
            lease = self.leases[key] = Lease()
        return lease

    @staticmethod
    def take(lease: Lease, now: float) -> bool:
        """Use one leased token if the lease holds one and has not expired."""
        if lease.tokens > 0 and now < lease.expires:
            lease.tokens -= 1
            return True
        return False

    def unused(self, lease: Lease, now: float) -> int:
        """Tokens of an expired lease, removed from it (the caller refunds them); shrinks the next lease."""
        if lease.tokens <= 0 or now < lease.expires:
            return 0
        left, lease.tokens = lease.tokens, 0
        lease.size = max(1, lease.size // 2)
        return left

    def want(self, lease: Lease, cap: int, now: float) -> int:
        """How many tokens to ask for: double after a lease was used up in time, within `cap`."""
        if lease.expires and lease.tokens == 0 and now < lease.expires:
            lease.size = min(cap, lease.size * 2)
        return min(lease.size, cap)

    def granted(self, lease: Lease, grant: Grant, asked: int, interval: float, now: float) -> None:
        """Record Redis' answer: a new lease (less than asked: back to one token next time) or a refusal."""
        lease.interval = interval
        if grant.granted <= 0:
            lease.size = 1
            lease.refusal = grant
            lease.refused_until = now + grant.retry_after_us / 1_000_000
            lease.remaining = 0
            lease.reset_at = now + grant.reset_us / 1_000_000
            return
        if grant.granted < asked:
            lease.size = 1
        # One token goes to the request that asked; the rest stay for the next requests.
        lease.tokens = grant.granted - 1
        lease.expires = now + self.ttl
        lease.remaining = grant.remaining
        lease.reset_at = now + grant.reset_us / 1_000_000
        lease.refusal = None
        lease.refused_until = 0.0

    @staticmethod
    def low(lease: Lease, now: float) -> bool:
        """Whether a live lease of 4+ tokens is down to its last quarter (time to top it up)."""
        return lease.size >= 4 and lease.tokens <= lease.size // 4 and now < lease.expires

    def topped_up(self, lease: Lease, grant: Grant, cap: int, interval: float, now: float) -> None:
        """Add a top-up's tokens to the lease (its lifetime starts again); nothing on a refusal.

        A refused top-up changes nothing: the tokens in hand stay good, and the request that finds
        the lease empty asks again and gets the refusal then.
        """
        if grant.granted <= 0:
            return
        lease.size = min(cap, lease.size * 2) if grant.granted >= lease.size else 1
        lease.interval = interval
        lease.tokens += grant.granted
        lease.expires = now + self.ttl
        lease.remaining = grant.remaining
        lease.reset_at = now + grant.reset_us / 1_000_000

    def clear(self) -> list[tuple[str, int, float]]:
        """Forget every lease (on reload: limits may have changed); returns (key, tokens, interval) to refund."""
        left = [(key, lease.tokens, lease.interval) for key, lease in self.leases.items() if lease.tokens > 0]
        self.leases.clear()
        return left

    @staticmethod
    def now() -> float:
        return time.monotonic()
