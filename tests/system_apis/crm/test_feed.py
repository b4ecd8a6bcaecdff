"""The change feed publishes approved opportunities with the watermark in one Redis transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from contracts import ACCOUNT_CHANGED, OPPORTUNITY_APPROVED, Account, CloudEvent
from contracts.streams import CRM_EVENTS, stream_tag
from servicekit.redis import RedisClient
from system_apis.crm import CrmSettings, create_app
from system_apis.crm.connector import CrmReader
from system_apis.crm.errors import SalesforceLimitExceeded
from system_apis.crm.feed import (
    ACCOUNT_WATERMARK_KEY,
    PUBLISHED_KEY,
    WATERMARK_KEY,
    AccountFeed,
    OpportunityFeed,
    run_feeds,
)
from tests.system_apis.crm.support import SandboxAdmin, sf_update

STREAM = CRM_EVENTS
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


async def test_an_approval_carries_its_account_as_read_in_the_same_query(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    calls: list[str] = []

    async def count(request: Any) -> None:
        calls.append(request.url.path)

    reader.client.http.event_hooks["request"].append(count)
    assert await feed.poll_once() == 1
    # One query for the opportunities and their accounts, one for their lines: no read per account.
    assert [c for c in calls if "/oauth2/" not in c] == ["/services/data/v62.0/query"] * 2
    [event] = await _events(redis)
    account = msgspec.convert(event.data["account"], type=Account, strict=False)
    assert account == await reader.account(event.data["account_id"])  # the account as the CRM holds it
    assert account.name == event.data["account_name"]
    assert account.tax_jurisdiction is not None


async def test_event_ids_are_deterministic_per_change(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    admin.close_won(DEMO1)
    start = datetime.now(UTC) - timedelta(minutes=1)
    await _feed(reader, redis, start).poll_once()
    await redis.delete(WATERMARK_KEY, PUBLISHED_KEY)  # replay the same change from scratch
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


async def test_a_round_whose_watermark_moved_after_it_read_it_publishes_nothing(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    """Forced interleaving: poller A reads the watermark and the changes, then poller B runs a whole
    round before A commits. A must see that the watermark is no longer the one it read, and abort."""
    start = datetime.now(UTC) - timedelta(seconds=1)
    admin.close_won(DEMO1)
    other = _feed(reader, redis, start)
    raced: list[int] = []

    class Overtaken(OpportunityFeed):
        async def changes(self, after: Any, limit: int) -> Any:
            found = await super().changes(after, limit)
            if not raced:
                raced.append(await other.poll_once())  # B commits between A's read and A's commit
            return found

    slow = Overtaken(reader, redis, start=start, stream=STREAM)
    assert await slow.poll_once() == 0
    assert raced == [1]
    [event] = await _events(redis)
    assert event.subject == DEMO1
    assert (await slow.watermark()).record_id == DEMO1


async def test_account_changes_are_published_as_canonical_accounts(
    reader: CrmReader, redis: RedisClient, sandbox: str, bearer: dict[str, str]
) -> None:
    feed = AccountFeed(reader, redis, start=datetime.now(UTC) - timedelta(seconds=1), stream=STREAM)
    assert await feed.poll_once() == 0
    sf_update(
        sandbox,
        bearer,
        "Account",
        "0018d00000DEMOBAAA",
        {"Payment_Terms__c": "Net 45", "Name": "Thames Data Group Ltd"},
    )
    assert await feed.poll_once() == 1
    assert await feed.poll_once() == 0
    [event] = await _events(redis)
    assert (event.type, event.subject, event.legalentity) == (ACCOUNT_CHANGED, "0018d00000DEMOBAAA", "GB01")
    assert (event.data["name"], event.data["currency"]) == ("Thames Data Group Ltd", "GBP")
    # Each feed has its own watermark; the opportunity feed did not move.
    assert (await feed.watermark()).record_id == "0018d00000DEMOBAAA"
    assert await redis.get(WATERMARK_KEY) is None


def test_feed_keys_share_the_stream_hash_tag(reader: CrmReader, redis: RedisClient) -> None:
    now = datetime.now(UTC)
    for key in (WATERMARK_KEY, ACCOUNT_WATERMARK_KEY):
        assert stream_tag(key) == stream_tag(CRM_EVENTS) == "{crm}"
    with pytest.raises(ValueError, match="hash tag"):
        AccountFeed(reader, redis, start=now, stream=CRM_EVENTS, watermark_key="fig:feed:account")


async def test_both_feeds_run_in_the_service_lifespan(
    redis_url: str, redis: RedisClient, sandbox: str, admin: SandboxAdmin, bearer: dict[str, str]
) -> None:
    settings = CrmSettings(
        redis_url=redis_url, sandbox_url=sandbox, auth_required=False, feed_interval=0.05, feed_account_interval=0.05
    )
    async with AsyncTestClient(create_app(settings)):
        # Both feeds have polled once (their watermarks start now): changes from here on are new.
        calls = admin.api_calls()
        for _ in range(200):
            if admin.api_calls() >= calls + 2:
                break
            await asyncio.sleep(0.01)
        admin.close_won(DEMO1)
        sf_update(sandbox, bearer, "Account", "0018d00000DEMOAAAA", {"Industry": "Retail"})
        for _ in range(100):
            if await redis.xlen(STREAM) >= 2:
                break
            await asyncio.sleep(0.05)
    assert sorted((e.type, e.subject or "") for e in await _events(redis)) == [
        (ACCOUNT_CHANGED, "0018d00000DEMOAAAA"),
        (OPPORTUNITY_APPROVED, DEMO1),
    ]


async def test_an_exhausted_allocation_moves_no_watermark(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin
) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    admin.usage(used=15_000)
    with pytest.raises(SalesforceLimitExceeded):
        await feed.poll_once()
    assert await redis.get(WATERMARK_KEY) is None
    assert await redis.xlen(STREAM) == 0
    admin.usage(used=0)  # the rolling allocation frees up: the change is published, once
    assert await feed.poll_once() == 1


async def test_each_feed_polls_at_its_own_interval(reader: CrmReader, redis: RedisClient) -> None:
    start = datetime.now(UTC)
    polls = {"opportunity": 0, "account": 0}

    class Counted(OpportunityFeed):
        async def poll_once(self) -> int:
            polls["opportunity"] += 1
            return await super().poll_once()

    class CountedAccounts(AccountFeed):
        async def poll_once(self) -> int:
            polls["account"] += 1
            return await super().poll_once()

    stop = asyncio.Event()
    feeds = [Counted(reader, redis, start=start), CountedAccounts(reader, redis, start=start, interval=10.0)]
    task = asyncio.create_task(run_feeds(feeds, 0.05, stop))
    for _ in range(400):  # until the opportunity feed has polled four times (a positive signal)
        if polls["opportunity"] >= 4:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert polls["account"] == 1  # due again only after 10 s
    assert polls["opportunity"] >= 4


async def test_an_idle_poll_costs_one_api_call(reader: CrmReader, redis: RedisClient, admin: SandboxAdmin) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    assert await feed.poll_once() == 1  # the watermark now names (modstamp, id): the two-part keyset
    calls: list[str] = []

    async def count(request: Any) -> None:
        calls.append(request.url.path)

    reader.client.http.event_hooks["request"].append(count)
    assert await feed.poll_once() == 0
    assert calls == ["/services/data/v62.0/query"]
