"""The change feed publishes approved opportunities with the watermark in one Redis transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from contracts import OPPORTUNITY_APPROVED, CloudEvent
from servicekit.redis import RedisClient
from system_apis.crm import CrmSettings, create_app
from system_apis.crm.connector import CrmReader
from system_apis.crm.feed import WATERMARK_KEY, OpportunityFeed
from tests.system_apis.crm.support import SandboxAdmin

STREAM = "fig:events:{crm}"
DEMO1, DEMO2 = "0068d00000DEMO1AAA", "0068d00000DEMO2AAA"


async def _events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange(STREAM)
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


def _feed(reader: CrmReader, redis: RedisClient, start: datetime | None = None) -> OpportunityFeed:
    return OpportunityFeed(reader, redis, start=start or datetime.now(UTC) - timedelta(seconds=1), stream=STREAM)


async def test_approval_is_published_once_with_the_watermark(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    feed = _feed(reader, redis)
    assert await feed.poll_once() == 0  # the seed predates the start: nothing is new
    admin.close_won(DEMO1)
    assert await feed.poll_once() == 1
    [event] = await _events(redis)
    assert event.type == OPPORTUNITY_APPROVED
    assert event.subject == DEMO1
    assert event.legalentity == "DE01"
    assert event.data["amount"] == {"amount": "14400.00", "currency": "EUR"}
    assert event.data["approval_status"] == "approved"
    assert (await feed.watermark()).record_id == DEMO1
    # A restarted poller (a new object, same Redis) resumes from the stored watermark.
    assert await _feed(reader, redis).poll_once() == 0
    assert len(await _events(redis)) == 1


async def test_event_ids_are_deterministic_per_change(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    admin.close_won(DEMO1)
    start = datetime.now(UTC) - timedelta(minutes=1)
    await _feed(reader, redis, start).poll_once()
    await redis.delete(WATERMARK_KEY)  # replay the same change from scratch
    await _feed(reader, redis, start).poll_once()
    first, again = await _events(redis)
    assert first.id == again.id


async def test_concurrent_pollers_never_publish_a_change_twice(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    open_deals = await reader.client.query("SELECT Id FROM Opportunity WHERE IsClosed = false ORDER BY Id LIMIT 5")
    approved = [r["Id"] for r in open_deals]
    for opportunity_id in approved:
        admin.close_won(opportunity_id)
    feeds = [_feed(reader, redis, start) for _ in range(3)]
    for _ in range(3):
        await asyncio.gather(*(f.poll_once() for f in feeds))
    # WATCH on the watermark makes racing pollers abort instead of publishing the same change again.
    assert sorted(e.subject or "" for e in await _events(redis)) == sorted(approved)


async def test_the_feed_runs_in_the_service_lifespan(
    redis_url: str, redis: RedisClient, sandbox: str, admin: SandboxAdmin
) -> None:
    settings = CrmSettings(redis_url=redis_url, sandbox_url=sandbox, auth_required=False, feed_interval=0.05)
    async with AsyncTestClient(create_app(settings)):
        await asyncio.sleep(0.1)
        admin.close_won(DEMO1)
        for _ in range(100):
            if await redis.xlen(STREAM):
                break
            await asyncio.sleep(0.05)
    assert [e.subject for e in await _events(redis)] == [DEMO1]
