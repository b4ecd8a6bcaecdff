"""Rate limits per client and route tier: GCRA in one Lua script, exact across gateway instances.

Each (client, route tier) has one Redis key holding its theoretical arrival time (TAT). The
script reads Redis' own clock (so instances with skewed clocks agree), decides and updates
atomically, so any number of gateway instances share one exact budget. The round trip is not paid
per request in isolation: calls go through `RedisBatcher`, which pipelines the EVALSHAs of all
requests that arrive while the previous pipeline is in flight (the trade-off: a request may wait
for the pipeline ahead of it, bounded by one round trip, instead of leasing tokens locally, which
would make the limit inexact across instances for a lease period). Redis unreachable: 503 (fail
closed; a financial gateway does not drop its limits silently).

Headers (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "<tier>";q=<n>;w=<s>` and
`RateLimit: "<tier>";r=<remaining>;t=<s>` on every answer; `Retry-After` on 429.
"""

from __future__ import annotations

import math

from redis.exceptions import RedisError

from gateway.exchange import Exchange
from gateway.redisbatch import RedisBatcher, Script
from servicekit import TooManyRequests, UpstreamUnavailable

__all__ = ["GCRA", "RATE_LIMIT_PREFIX", "RateLimitPolicy"]

RATE_LIMIT_PREFIX = "fig:gateway:rl:"

#: KEYS[1] the TAT key. ARGV[1] emission interval (µs per request), ARGV[2] capacity (µs = period).
#: Returns {allowed, remaining, retry_after_us, reset_us}.
GCRA = Script(
    """
pcall(redis.replicate_commands)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - capacity > now then
  return {0, 0, math.ceil(new_tat - capacity - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, math.floor((capacity - (new_tat - now)) / interval), 0, math.ceil(new_tat - now)}
"""
)


class RateLimitPolicy:
    """429 `rate-limited` with Retry-After once the client's budget for the route tier is spent."""

    def __init__(self, batcher: RedisBatcher) -> None:
        self.batcher = batcher

    async def apply(self, exchange: Exchange) -> None:
        route, client = exchange.route, exchange.client
        if route is None or client is None:
            return
        route_tier = route.config.tier
        limit = exchange.runtime.limits[client.tier, route_tier]
        interval = limit.period * 1_000_000 / limit.requests
        key = f"{RATE_LIMIT_PREFIX}{{{client.client_id}}}:{route_tier}"
        try:
            allowed, remaining, retry_us, reset_us = await self.batcher.evalsha(
                GCRA, [key], [repr(interval), repr(limit.period * 1_000_000)]
            )
        except (RedisError, OSError):
            raise UpstreamUnavailable(
                "The rate limiter is unavailable; try again shortly.", slug="rate-limit-unavailable"
            ) from None
        policy = f'"{route_tier}";q={limit.requests};w={math.ceil(limit.period)}'.encode()
        state = f'"{route_tier}";r={remaining};t={math.ceil(reset_us / 1_000_000)}'.encode()
        if not allowed:
            retry = max(1, math.ceil(retry_us / 1_000_000))
            raise TooManyRequests(
                f"Client {client.client_id!r} used its {limit.requests} requests per {limit.period:g} s "
                f"for {route_tier} routes; retry in {retry} s.",
                headers={"Retry-After": str(retry), "RateLimit-Policy": policy.decode(), "RateLimit": state.decode()},
            )
        exchange.response_headers.append((b"ratelimit-policy", policy))
        exchange.response_headers.append((b"ratelimit", state))
