"""Rate limits per client and route tier: GCRA in one Lua script, never exceeded across instances.

Each (client, route tier) has one Redis key holding its theoretical arrival time (TAT). The
script reads Redis' own clock (so instances with skewed clocks agree), decides and updates
atomically, so any number of gateway instances share one budget. A worker asks for a *lease* of
one or more tokens at a time (`gateway.leases` says how the lease size adapts and why it can only
under-admit, never over-admit); the script grants as many as the budget holds, up to the ask.
Calls go through `RedisBatcher`, which pipelines the EVALSHAs of all requests that arrive while
the previous pipeline is in flight. Redis unreachable: 503 (fail closed; a financial gateway does
not drop its limits silently).

Headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "<tier>";q=<n>;w=<s>` and
`RateLimit: "<tier>";r=<remaining>;t=<s>` on every answer; `Retry-After` on 429.
"""

from __future__ import annotations

import asyncio
import math

from redis.exceptions import RedisError

from gateway.config import LimitConfig
from gateway.exchange import Exchange
from gateway.leases import Grant, Lease, LeaseBook
from gateway.redisbatch import RedisBatcher, Script
from servicekit import TooManyRequests, UpstreamUnavailable
from servicekit.problems import DEPENDENCY_RETRY_AFTER

__all__ = ["GCRA", "RATE_LIMIT_PREFIX", "REFUND", "RateLimitPolicy"]

RATE_LIMIT_PREFIX = "fig:gateway:rl:"

#: KEYS[1] the TAT key. ARGV[1] emission interval (µs per token), ARGV[2] capacity (µs = period),
#: ARGV[3] tokens wanted (default 1). Grants as many as the budget holds, up to the ask.
#: Returns {granted, remaining, retry_after_us, reset_us}.
GCRA = Script(
    """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local want = tonumber(ARGV[3] or 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((now + capacity - tat) / interval)
if room < 1 then
  return {0, 0, math.ceil(tat + interval - capacity - now), math.ceil(tat - now)}
end
local granted = math.min(want, room)
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {granted, math.floor((capacity - (new_tat - now)) / interval), 0, math.ceil(new_tat - now)}
"""
)

#: KEYS[1] the TAT key. ARGV[1] emission interval (µs per token), ARGV[2] unused tokens to give back.
REFUND = Script(
    """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local new_tat = tat - tonumber(ARGV[1]) * tonumber(ARGV[2])
if new_tat <= now then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 1
"""
)


class RateLimitPolicy:
    """429 `rate-limited` with Retry-After once the client's budget for the route tier is spent.

    `lease_max=1` makes every request its own decision in Redis (no leases).
    """

    def __init__(self, batcher: RedisBatcher, *, lease_max: int = 64, lease_ttl: float = 0.1) -> None:
        self.batcher = batcher
        self.book = LeaseBook(max_tokens=lease_max, ttl=lease_ttl)
        #: Top-ups in flight (kept referenced until done, as asyncio requires).
        self._topping: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        """Drop every lease (after a reload: limits may have changed), refunding unused tokens."""
        for key, tokens, interval in self.book.clear():
            self.batcher.evalsha_nowait(REFUND, [key], [repr(interval), tokens])

    async def apply(self, exchange: Exchange) -> None:
        route, client = exchange.route, exchange.client
        if route is None or client is None:
            return
        route_tier = route.config.tier
        limit = exchange.runtime.limits[client.tier, route_tier]
        key = f"{RATE_LIMIT_PREFIX}{{{client.client_id}}}:{route_tier}"
        book = self.book
        lease = book.get(key)
        while True:
            now = book.now()
            if book.take(lease, now):
                self._admit(exchange, route_tier, limit, lease.remaining + lease.tokens, lease.reset_at - now)
                if lease.pending is None and book.low(lease, now):
                    self._top_up(key, lease, limit)
                return
            if now < lease.refused_until and lease.refusal is not None:
                self._refuse(client.client_id, route_tier, limit, lease.refused_until - now, lease.reset_at - now)
            if lease.pending is not None:
                # Another request of this budget is asking Redis: share its answer.
                await lease.pending
                continue
            await self._ask(exchange, key, lease, limit)
            now = book.now()
            if lease.refusal is not None:
                self._refuse(client.client_id, route_tier, limit, lease.refused_until - now, lease.reset_at - now)
            self._admit(exchange, route_tier, limit, lease.remaining + lease.tokens, lease.reset_at - now)
            return

    async def _ask(self, exchange: Exchange, key: str, lease: Lease, limit: LimitConfig) -> None:
        book = self.book
        interval = limit.period * 1_000_000 / limit.requests
        now = book.now()
        unused = book.unused(lease, now)
        if unused:
            self.batcher.evalsha_nowait(REFUND, [key], [repr(lease.interval or interval), unused])
        asked = book.want(lease, book.cap(limit.requests), now)
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease.pending = waiting
        try:
            grant = await self._charge(key, limit, asked)
        except (RedisError, OSError):
            raise UpstreamUnavailable(
                "The rate limiter is unavailable; try again after the Retry-After seconds.",
                slug="rate-limit-unavailable",
                headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
            ) from None
        finally:
            lease.pending = None
            waiting.set_result(None)
        book.granted(lease, grant, asked, interval, book.now())

    async def _charge(self, key: str, limit: LimitConfig, tokens: int) -> Grant:
        """Charge up to `tokens` to the shared budget of `key` (one GCRA script in Redis)."""
        interval = limit.period * 1_000_000 / limit.requests
        answer = await self.batcher.evalsha(GCRA, [key], [repr(interval), repr(limit.period * 1_000_000), tokens])
        return Grant(*(int(x) for x in answer))

    async def drain(self) -> None:
        """Wait for the background top-ups in flight (on shutdown, before the Redis client closes)."""
        while self._topping:
            await asyncio.gather(*self._topping, return_exceptions=True)

    def _top_up(self, key: str, lease: Lease, limit: LimitConfig) -> None:
        """Ask for more tokens in the background; requests that find the lease empty meanwhile wait for it."""
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lease.pending = waiting
        interval = limit.period * 1_000_000 / limit.requests
        cap = self.book.cap(limit.requests)
        asked = min(cap, lease.size * 2)

        async def top_up() -> None:
            try:
                grant = await self._charge(key, limit, asked)
                self.book.topped_up(lease, grant, cap, interval, self.book.now())
            except (RedisError, OSError):
                pass  # the tokens in hand stay good; the request that finds the lease empty asks again
            finally:
                lease.pending = None
                waiting.set_result(None)

        task = asyncio.get_running_loop().create_task(top_up())
        self._topping.add(task)
        task.add_done_callback(self._topping.discard)

    @staticmethod
    def _admit(exchange: Exchange, tier: str, limit: LimitConfig, remaining: int, reset: float) -> None:
        exchange.response_headers.append(
            (b"ratelimit-policy", f'"{tier}";q={limit.requests};w={math.ceil(limit.period)}'.encode())
        )
        state = f'"{tier}";r={remaining};t={math.ceil(max(0.0, reset))}'
        exchange.response_headers.append((b"ratelimit", state.encode()))

    @staticmethod
    def _refuse(client_id: str, tier: str, limit: LimitConfig, retry_in: float, reset: float) -> None:
        retry = max(1, math.ceil(retry_in))
        raise TooManyRequests(
            f"Client {client_id!r} used its {limit.requests} requests per {limit.period:g} s "
            f"for {tier} routes; retry in {retry} s.",
            headers={
                "Retry-After": str(retry),
                "RateLimit-Policy": f'"{tier}";q={limit.requests};w={math.ceil(limit.period)}',
                "RateLimit": f'"{tier}";r=0;t={math.ceil(max(0.0, reset))}',
            },
        )
