"""Keep the run leases this process holds alive, so a lease can be short.

A run lease (`RunStore.lease`) is what keeps two workers from advancing one run at once; when its
holder dies (a SIGKILL, an OOM kill), the run waits until the lease expires. A long lease delays
the recovery of every run a dead worker held; a short one would expire under a live worker in a
long step (a slow vendor). So leases are short and the living renew theirs: one task per process
extends every lease it holds every third of the lease time, in one round trip for all of them
(`PEXPIRE` only where the lease still carries this holder's token, so a lease lost meanwhile is
never revived). A dead process renews nothing, and its leases expire within one lease time.

One task for all leases instead of one per lease: taking a lease is on the run store's hot path,
and a dictionary entry costs far less than starting and cancelling a task. The task runs only while
some lease is held.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["LeaseHeartbeat"]

log = logging.getLogger("process_apis.heartbeat")

# KEYS: lease keys; ARGV: the lease time in ms, then one token per key. Extends each key that
# still holds its token; returns how many were extended.
_RENEW = """
local renewed = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then
    redis.call('PEXPIRE', KEYS[i], ARGV[1])
    renewed = renewed + 1
  end
end
return renewed
"""


class LeaseHeartbeat:
    """Renews the held leases (`hold` / `drop`) every `ttl_ms / 3` while there are any."""

    def __init__(self, redis: Any, ttl_ms: int) -> None:
        self.redis = redis
        self.ttl_ms = ttl_ms
        self.interval = ttl_ms / 3000
        self._held: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def hold(self, key: str, token: str) -> None:
        """Renew lease `key` (held with `token`) until `drop(key)`."""
        self._held[key] = token
        task = self._task
        if not self._stopped and (task is None or task.done() or task.get_loop() is not asyncio.get_running_loop()):
            self._task = asyncio.get_running_loop().create_task(self._beat(), name="run-lease-heartbeat")

    def drop(self, key: str) -> None:
        self._held.pop(key, None)

    def stop(self) -> None:
        """Renew nothing any more (shutdown): the leases still held then expire by themselves."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    async def _beat(self) -> None:
        while self._held and not self._stopped:
            await asyncio.sleep(self.interval)
            await self.renew()

    async def renew(self) -> int:
        """Extend every held lease that is still this holder's; how many were. Errors are logged
        (the next beat tries again; a lease that expires meanwhile fails its commit, fenced)."""
        held = list(self._held.items())
        # Each key alone: the keys of different runs live in different cluster slots.
        pipe = self.redis.pipeline(transaction=False)
        for key, token in held:
            pipe.eval(_RENEW, 1, key, self.ttl_ms, token)
        try:
            return sum(int(n) for n in await pipe.execute())
        except Exception:
            log.exception("renewing run leases failed", extra={"leases": len(held)})
            return 0
