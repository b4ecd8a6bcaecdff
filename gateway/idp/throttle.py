"""Throttling of failed authentication, shared through Redis by every IdP process.

Each failure counts against its subject (a client id or a person) and its source address in a
fixed window; once either reaches its limit, further attempts are refused with the seconds left in
that window, before any secret is checked. Each counter is one key with its own hash tag
(`fig:idp:fail:{client:<id>}`, `{user:<name>}`, `{addr:<ip>}`) and every script touches one key, so
it works on Redis Cluster. Only known subjects get a counter, so guessed names cannot fill Redis.
"""

from __future__ import annotations

import math

from servicekit.redis import RedisClient

__all__ = ["FAIL_PREFIX", "FailureThrottle"]

FAIL_PREFIX = "fig:idp:fail:"

# INCR and start the window on the first failure, atomically (a separate EXPIRE could be lost).
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class FailureThrottle:
    """`retry_after(...)` before checking a secret, `failed(...)` after a wrong one."""

    def __init__(self, redis: RedisClient, *, subject_limit: int, address_limit: int, window: int) -> None:
        self.redis = redis
        self.subject_limit = subject_limit
        self.address_limit = address_limit
        self.window = window
        self._count = redis.register_script(_COUNT)

    def _keys(self, kind: str, subject: str | None, address: str | None) -> list[tuple[str, int]]:
        keys = []
        if subject is not None:
            keys.append((f"{FAIL_PREFIX}{{{kind}:{subject}}}", self.subject_limit))
        if address:
            keys.append((f"{FAIL_PREFIX}{{addr:{address}}}", self.address_limit))
        return keys

    async def retry_after(self, kind: str, subject: str | None, address: str | None) -> int | None:
        """Seconds until `subject` (of `kind`) and `address` may try again, or None if they may now."""
        keys = self._keys(kind, subject, address)
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, _ in keys:
                pipe.get(key)
                pipe.pttl(key)
            answers = await pipe.execute()
        waits = [
            max(1, math.ceil(int(ttl) / 1000)) if ttl and int(ttl) > 0 else self.window
            for (_, limit), count, ttl in zip(keys, answers[::2], answers[1::2], strict=True)
            if count is not None and int(count) >= limit
        ]
        return max(waits) if waits else None

    async def failed(self, kind: str, subject: str | None, address: str | None) -> None:
        """Count one failed attempt against `subject` (None: unknown, not counted) and `address`."""
        for key, _ in self._keys(kind, subject, address):
            await self._count(keys=[key], args=[self.window * 1000])
