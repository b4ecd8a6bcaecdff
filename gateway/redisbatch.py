"""Automatic pipelining: the Redis calls of concurrent requests share one round trip.

Each request still gets its own atomic decision (every Lua script runs atomically on the server,
so exactness across gateway instances is untouched), but the calls that arrive while a pipeline is
in flight are sent together as the next one. Under load one round trip serves many requests; an
idle gateway pays one round trip, as before. Fire-and-forget counters (`HINCRBY`) ride along.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from servicekit import RedisClient

__all__ = ["RedisBatcher", "Script"]

log = logging.getLogger("gateway.redis")


class Script:
    """A Lua script called by SHA (EVALSHA), loaded on first NOSCRIPT."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


_Call = tuple[Script | None, tuple[Any, ...], "asyncio.Future[Any] | None"]


class RedisBatcher:
    """Queues EVALSHA calls and counters; one batch (a pipeline without MULTI) in flight at a time."""

    def __init__(self, redis: RedisClient, max_batch: int = 512) -> None:
        self.redis = redis
        self.max_batch = max_batch
        self._queue: list[_Call] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None

    async def evalsha(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        """Run `script` atomically; resolves with its result (raises RedisError on failure)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, (len(keys), *keys, *args), future))
        self._kick()
        return await future

    def evalsha_nowait(self, script: Script, keys: list[str], args: list[Any]) -> None:
        """Run `script` without waiting for it (a refund, say); a failure is logged, never raised."""
        self._queue.append((script, (len(keys), *keys, *args), None))
        self._kick()

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        """Count without waiting; a failure is logged, never raised."""
        self._queue.append((None, ("HINCRBY", key, field, amount), None))
        self._kick()

    async def drain(self) -> None:
        """Wait until every queued call has been sent and answered (on shutdown)."""
        while self._task is not None:
            await asyncio.shield(self._task)

    def _kick(self) -> None:
        if not self._flushing:
            self._flushing = True
            self._task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                await self._send(batch)
        finally:
            self._flushing = False
            self._task = None

    async def _results(self, batch: list[_Call]) -> list[Any]:
        """One answer (or exception) per call, from one pipeline without MULTI.

        On Redis Cluster the pipeline sends each node its calls in one round trip, in queue order.
        EVALSHA goes through `execute_command`: redis-py's cluster pipeline refuses its `evalsha`
        method (it could not answer NOSCRIPT there), and this batcher answers NOSCRIPT itself.
        """
        pipe = self.redis.pipeline(transaction=False)
        for script, args, _ in batch:
            if script is None:
                pipe.execute_command(*args)
            else:
                pipe.execute_command("EVALSHA", script.sha, *args)
        return list(await pipe.execute(raise_on_error=False))

    async def _send(self, batch: list[_Call]) -> None:
        try:
            results = await self._results(batch)
        except Exception as exc:  # whatever failed, every waiter must hear of it: never leave one hanging
            for _, _, future in batch:
                if future is not None and not future.done():
                    future.set_exception(exc)
            if not any(f for _, _, f in batch):
                log.warning("redis counters lost", extra={"error": str(exc)})
            return
        retry: list[tuple[Script, tuple[Any, ...], asyncio.Future[Any] | None]] = []
        for (script, args, future), result in zip(batch, results, strict=True):
            if future is not None and future.done():
                continue
            if isinstance(result, NoScriptError) and script is not None:
                retry.append((script, args, future))
            elif future is None:
                if isinstance(result, Exception):
                    log.warning("redis call without waiter failed", extra={"error": str(result)})
            elif isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        for script, args, waiter in retry:
            try:
                answer = await self.redis.eval(script.source, *args)
            except (RedisError, OSError) as exc:
                if waiter is None:
                    log.warning("redis call without waiter failed", extra={"error": str(exc)})
                else:
                    waiter.set_exception(exc)
            else:
                if waiter is not None:
                    waiter.set_result(answer)
