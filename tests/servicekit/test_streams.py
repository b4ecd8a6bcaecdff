"""Redis Streams consumers on a real Redis: at-least-once, reclaim from the dead, dead letters."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from contracts import CloudEvent, new_event
from servicekit import Redeliver, StreamConsumer, StreamPublisher
from servicekit.redis import RedisClient
from servicekit.telemetry import setup_telemetry


def event(n: int) -> CloudEvent:
    return new_event(source="test", type="test.thing.v1", data={"n": n}, event_id=f"e{n}")


async def consume_until(consumer: StreamConsumer, seen: list[object], count: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(100):
        if len(seen) >= count:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_every_published_event_is_handled_and_acknowledged(redis: RedisClient) -> None:
    publisher = StreamPublisher(redis, "s:test")
    for n in range(5):
        await publisher.publish(event(n))
    seen: list[object] = []

    async def handle(e: CloudEvent) -> None:
        seen.append(e.data["n"])

    await consume_until(StreamConsumer(redis, "s:test", "g", "c1", handle, block_ms=50), seen, 5)
    assert seen == [0, 1, 2, 3, 4]
    pending = await redis.xpending("s:test", "g")
    assert pending["pending"] == 0


async def test_entries_left_by_a_dead_consumer_are_claimed_by_another(redis: RedisClient) -> None:
    publisher = StreamPublisher(redis, "s:test")
    await publisher.publish(event(1))
    first = StreamConsumer(redis, "s:test", "g", "dead", lambda e: asyncio.sleep(0))
    await first.ensure_group()
    # The first consumer reads the entry and "dies" before acknowledging it.
    await redis.xreadgroup("g", "dead", {"s:test": ">"}, count=10)
    seen: list[object] = []

    async def handle(e: CloudEvent) -> None:
        seen.append(e.id)

    survivor = StreamConsumer(redis, "s:test", "g", "alive", handle, block_ms=50, claim_idle_ms=100)
    # Redis itself says the entry has been idle long enough to be claimed (not a sleep that hopes so).
    for _ in range(200):
        [entry] = await redis.xpending_range("s:test", "g", min="-", max="+", count=1)
        if int(entry["time_since_delivered"]) > 100:
            break
        await asyncio.sleep(0.01)
    await consume_until(survivor, seen, 1)
    assert seen == ["e1"]
    assert (await redis.xpending("s:test", "g"))["pending"] == 0


async def test_a_failing_event_stays_pending_then_goes_to_dead_letters(redis: RedisClient) -> None:
    await StreamPublisher(redis, "s:test").publish(event(7))
    attempts: list[str] = []

    async def always_fails(e: CloudEvent) -> None:
        attempts.append(e.id)
        raise RuntimeError("downstream refuses")

    consumer = StreamConsumer(redis, "s:test", "g", "c", always_fails, block_ms=20, claim_idle_ms=0, max_deliveries=3)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(100):
        if await redis.xlen("s:test:dead"):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    dead: Any = await redis.xrange("s:test:dead")
    assert len(dead) == 1
    assert b"failed 3 times" in dead[0][1][b"reason"]
    # The dead letter says how often it was delivered and which entry of the stream it was.
    assert int(dead[0][1][b"attempts"]) == 4
    original: Any = await redis.xrange("s:test")
    assert dead[0][1][b"entry"] == original[0][0]
    assert len(attempts) == 3
    assert (await redis.xpending("s:test", "g"))["pending"] == 0


async def test_redeliver_leaves_the_entry_pending_quietly_until_it_succeeds(
    redis: RedisClient, caplog: pytest.LogCaptureFixture
) -> None:
    await StreamPublisher(redis, "s:test").publish(event(9))
    attempts: list[str] = []

    async def busy_once(e: CloudEvent) -> None:
        attempts.append(e.id)
        if len(attempts) == 1:
            raise Redeliver("run busy")

    consumer = StreamConsumer(redis, "s:test", "g", "c", busy_once, block_ms=20, claim_idle_ms=0)
    with caplog.at_level(logging.INFO, logger="servicekit.streams"):
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        for _ in range(100):
            if len(attempts) >= 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert attempts == ["e9", "e9"]
    assert (await redis.xpending("s:test", "g"))["pending"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_trace_context_crosses_the_stream_in_the_cloudevents_extension(redis: RedisClient) -> None:
    setup_telemetry("streams-test")
    tracer = trace.get_tracer("test")
    handled: list[Any] = []

    async def handle(e: CloudEvent) -> None:
        handled.append((e, trace.get_current_span()))

    with tracer.start_as_current_span("publish-side") as publisher:
        await StreamPublisher(redis, "s:traced").publish(event(1))
    await consume_until(StreamConsumer(redis, "s:traced", "g", "c1", handle, block_ms=50), handled, 1)
    sent, span = handled[0]
    context = publisher.get_span_context()
    assert sent.traceparent is not None
    assert sent.traceparent.startswith(f"00-{context.trace_id:032x}-{context.span_id:016x}-")
    assert span.kind == SpanKind.CONSUMER
    assert span.parent.span_id == context.span_id
    assert span.get_span_context().trace_id == context.trace_id
    assert span.attributes["messaging.destination.name"] == "s:traced"
    assert span.attributes["messaging.message.id"] == sent.id
