"""Metrics every service may record beyond HTTP: change-feed lag, stream depth, Redis errors.

- `fig.changefeed.lag` (seconds, gauge): time since a feed last completed a poll round, per feed.
  A feed that stops polling (vendor down, allocation exhausted) shows a growing lag.
- `fig.stream.depth` and `fig.stream.dead_letter.depth` (entries, gauge): `XLEN` of each stream
  and of its `:dead` stream, sampled every `interval` seconds by `StreamDepthSampler`.
- `fig.redis.errors` (counter): Redis failures a component caught, per component.

All go through the process's meter provider (`/metrics`, and OTLP when configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation
from redis.exceptions import RedisError

from servicekit.redis import RedisClient

__all__ = ["StreamDepthSampler", "feed_polled", "redis_error"]

log = logging.getLogger("servicekit.metrics")

_meter = metrics.get_meter("servicekit")
_last_poll: dict[str, float] = {}
_redis_errors = _meter.create_counter(
    "fig.redis.errors", unit="{error}", description="Redis failures caught by a component (answered or retried)."
)
_depth = _meter.create_gauge("fig.stream.depth", unit="{entry}", description="Entries in a Redis stream (XLEN).")
_dead_depth = _meter.create_gauge(
    "fig.stream.dead_letter.depth", unit="{entry}", description="Entries in a stream's dead-letter stream (XLEN)."
)


def _lag(_: CallbackOptions) -> Iterable[Observation]:
    now = time.monotonic()
    return [Observation(now - at, {"fig.feed": name}) for name, at in list(_last_poll.items())]


_meter.create_observable_gauge(
    "fig.changefeed.lag",
    callbacks=[_lag],
    unit="s",
    description="Seconds since the change feed last completed a poll round.",
)


def feed_polled(feed: str) -> None:
    """Feed `feed` completed a poll round now."""
    _last_poll[feed] = time.monotonic()


def redis_error(component: str) -> None:
    """Count one Redis failure caught by `component`."""
    _redis_errors.add(1, {"fig.component": component})


class StreamDepthSampler:
    """Samples the length of `streams` and of their dead-letter streams (`<stream>:dead`)."""

    def __init__(self, redis: RedisClient, streams: Sequence[str], *, interval: float = 15.0) -> None:
        self.redis = redis
        self.streams = tuple(streams)
        self.interval = interval

    async def sample(self) -> None:
        """One sample of every stream (a Redis failure is counted and skipped)."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            for stream in self.streams:
                pipe.xlen(stream)
                pipe.xlen(f"{stream}:dead")
            lengths = await pipe.execute()
        except (RedisError, OSError):
            redis_error("stream-depth")
            return
        for index, stream in enumerate(self.streams):
            _depth.set(int(lengths[2 * index]), {"messaging.destination.name": stream})
            _dead_depth.set(int(lengths[2 * index + 1]), {"messaging.destination.name": stream})

    async def run(self, stop: asyncio.Event) -> None:
        """Sample every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
