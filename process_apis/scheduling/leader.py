"""One leader across process API instances: a Redis lease (SET NX PX), renewed while held.

    fig:sched:{sched}:leader   the leader's token, expiring `ttl` after its last renewal

Every scheduler key carries the hash tag `{sched}`, so the fenced state write (only while this
instance still holds the lease) is one script on one Redis Cluster slot. A leader that dies stops
renewing; another instance takes the lease within `ttl`.
"""

from __future__ import annotations

import uuid
from typing import Any

__all__ = ["LEADER_KEY", "LeaderLease"]

LEADER_KEY = "fig:sched:{sched}:leader"

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
#: KEYS leader, hash; ARGV token, field, value: HSET only while the lease is held (fencing).
_FENCED_HSET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


class LeaderLease:
    """This instance's claim on the scheduler's leadership."""

    def __init__(self, redis: Any, *, ttl: float, name: str | None = None) -> None:
        self.redis: Any = redis
        self.ttl_ms = max(1, int(ttl * 1000))
        self.token = name or uuid.uuid4().hex
        self.held = False
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._fenced = redis.register_script(_FENCED_HSET)

    async def refresh(self) -> bool:
        """Take the lease if it is free, renew it if this instance holds it; whether it is held now."""
        self.held = bool(await self._renew(keys=[LEADER_KEY], args=[self.token, self.ttl_ms]))
        return self.held

    async def release(self) -> None:
        if self.held:
            await self._release(keys=[LEADER_KEY], args=[self.token])
            self.held = False

    async def hset(self, key: str, field: str, value: bytes) -> bool:
        """HSET `key` (a `{sched}` key) only while this instance leads; whether it was written."""
        written = bool(await self._fenced(keys=[LEADER_KEY, key], args=[self.token, field, value]))
        self.held = self.held and written
        return written

    async def leader(self) -> str | None:
        raw = await self.redis.get(LEADER_KEY)
        return raw.decode() if isinstance(raw, bytes) else raw
