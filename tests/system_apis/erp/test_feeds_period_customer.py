"""The period-closed and customer-changed feeds against a running sandbox and a real Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from contracts import CUSTOMER_CHANGED, PERIOD_CLOSED, AccountingPeriod, CloudEvent, Customer, CustomerMasterChanges
from servicekit import RedisClient
from system_apis.erp.connector import NetSuiteClient, ledger
from system_apis.erp.errors import ErpUpstreamError
from system_apis.erp.feed import ERP_STREAM, CustomerFeed, PeriodFeed, SalesOrderFeed, run_feeds
from tests.support import keys_matching
from tests.system_apis.erp.conftest import admin, arm


async def _events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange(ERP_STREAM)
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


def _since() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


async def test_closing_a_period_is_announced_once_with_the_canonical_period(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    feed = PeriodFeed(netsuite, redis, initial_since=_since(), lag=0.0)
    assert await feed.poll_once() == 0  # seeded closes are older than the start
    await admin(sandbox, "POST", "/periods/2/2026-11/close")
    await admin(sandbox, "POST", "/periods/2/2026-11/close")  # closing again changes nothing
    assert await feed.poll_once() == 1
    [event] = await _events(redis)
    assert (event.type, event.id, event.subject, event.legalentity) == (
        PERIOD_CLOSED,
        "erp-period-closed-211",
        "211",
        "DE01",
    )
    assert event.data["legal_entity"] == "DE01"
    assert (event.data["period"], event.data["status"], event.data["subsidiary_id"]) == ("2026-11", "closed", "2")
    assert event.data["closed_at"].endswith("Z")
    [listed] = [p for p in await ledger.accounting_periods(netsuite, legal_entity="DE01") if p.period == "2026-11"]
    assert msgspec.convert(event.data, type=AccountingPeriod, strict=False) == listed
    restarted = PeriodFeed(netsuite, redis, initial_since=datetime(2020, 1, 1, tzinfo=UTC), lag=0.0)
    assert await restarted.poll_once() == 0  # the stored watermark wins over the initial time
    assert len(await _events(redis)) == 1


async def test_every_customer_change_is_announced_once_with_the_canonical_customer(
    netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    feed = CustomerFeed(netsuite, redis, initial_since=_since(), lag=0.0)
    assert await feed.poll_once() == 0
    await netsuite.update_customer_master("1002", CustomerMasterChanges(terms="Net 60"))
    assert await feed.poll_once() == 1
    await netsuite.update_customer_master("1002", CustomerMasterChanges(email="ap@elbe.example"))
    assert await feed.poll_once() == 1
    assert await feed.poll_once() == 0
    first, second = await _events(redis)
    assert {first.type, second.type} == {CUSTOMER_CHANGED}
    assert first.subject == second.subject == "1002"
    assert first.id != second.id
    assert first.legalentity == "DE01"
    assert (first.data["terms"], first.data["currency"]) == ("Net 60", "EUR")
    assert second.data["email"] == "ap@elbe.example"
    assert second.data["credit_limit"] == {"amount": "51000.00", "currency": "EUR"}
    # The event (from a SuiteQL row) says exactly what the record API says about the customer.
    assert msgspec.convert(second.data, type=Customer, strict=False) == await netsuite.get_customer("1002")


async def test_feeds_keep_separate_watermarks_on_one_stream(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    since = _since()
    feeds = [cls(netsuite, redis, initial_since=since, lag=0.0) for cls in (SalesOrderFeed, PeriodFeed, CustomerFeed)]
    await admin(sandbox, "POST", "/periods/3/2026-11/close")
    [order_id] = (await admin(sandbox, "POST", "/sales-orders/generate", json={"count": 1})).json()["ids"]
    await admin(sandbox, "POST", f"/sales-orders/{order_id}/approve")
    assert [await feed.poll_once() for feed in feeds] == [1, 1, 0]
    keys = await keys_matching(redis, "fig:feed:{erp}:*")
    assert {k.decode() for k in keys} == {
        "fig:feed:{erp}:salesOrder",
        "fig:feed:{erp}:salesOrder:booked",
        "fig:feed:{erp}:accountingPeriod",
        "fig:feed:{erp}:accountingPeriod:closed",
        "fig:feed:{erp}:customer",
    }


async def test_an_update_that_changes_nothing_writes_nothing_and_announces_nothing(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    feed = CustomerFeed(netsuite, redis, initial_since=_since(), lag=0.0)
    await netsuite.update_customer_master("1002", CustomerMasterChanges(region="DACH", terms="Net 30"))
    assert await feed.poll_once() == 1
    before = (await netsuite.get_customer("1002")).last_modified
    echoed = CustomerMasterChanges(region="DACH", terms="Net 30", currency="EUR", subsidiary_id="2")
    assert (await netsuite.update_customer_master("1002", echoed)).last_modified == before
    assert await feed.poll_once() == 0


async def test_a_failed_poll_moves_nothing_and_the_next_one_publishes(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    feed = PeriodFeed(netsuite, redis, initial_since=_since(), lag=0.0)
    assert await feed.poll_once() == 0
    mark = await redis.get(feed.watermark_key)
    await admin(sandbox, "POST", "/periods/1/2026-11/close")
    arm(sandbox, "POST */suiteql", "error", status=500)
    with pytest.raises(ErpUpstreamError):
        await feed.poll_once()
    assert await redis.get(feed.watermark_key) == mark
    assert await _events(redis) == []
    assert await feed.poll_once() == 1


async def test_one_failing_feed_does_not_hold_up_the_others(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    class Broken(PeriodFeed):
        async def poll_once(self) -> int:
            raise ErpUpstreamError("NetSuite answered 500.")

    since = _since()
    feeds = [Broken(netsuite, redis, initial_since=since), CustomerFeed(netsuite, redis, initial_since=since, lag=0)]
    await netsuite.update_customer_master("1003", CustomerMasterChanges(industry="Retail"))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_feeds(feeds, stop, interval=0.01))
    try:
        await redis.xread({ERP_STREAM: "0-0"}, count=1, block=5000)
    finally:
        stop.set()
        await runner
    assert [e.type for e in await _events(redis)] == [CUSTOMER_CHANGED]
