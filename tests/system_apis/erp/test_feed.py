"""The ERP change feed against a running sandbox and a real Redis: booked orders, exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from contracts import (
    CUSTOMER_CHANGED,
    PERIOD_CLOSED,
    SALES_ORDER_BOOKED,
    CloudEvent,
    CustomerUpsert,
    Money,
    SalesOrderLine,
    SalesOrderUpsert,
)
from servicekit import RedisClient
from system_apis.erp import ErpSettings, create_app
from system_apis.erp.connector import NetSuiteClient, SuiteQLPage
from system_apis.erp.feed import ERP_STREAM, WATERMARK_KEY, SalesOrderFeed
from tests.system_apis.erp.conftest import admin

SEEDED_BOOKED = 8  # seeded orders in status B, D, E, F or G


async def _events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange(ERP_STREAM)
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


async def _new_order(netsuite: NetSuiteClient, external_id: str) -> str:
    customer, _ = await netsuite.upsert_customer(
        "SF-0018d00000DEMOBAAA", CustomerUpsert(name="Thames Data Ltd", subsidiary_id="3", currency="GBP")
    )
    order, _ = await netsuite.upsert_sales_order(
        external_id,
        SalesOrderUpsert(
            customer_id=customer.id,
            subsidiary_id="3",
            currency="GBP",
            tran_date=date(2026, 11, 20),
            lines=[
                SalesOrderLine(
                    item_id="102",
                    quantity=Decimal("2"),
                    unit_price=Money(amount=Decimal("1500.00"), currency="GBP"),
                    amount=Money(amount=Decimal("3000.00"), currency="GBP"),
                )
            ],
        ),
    )
    return order.id


def _feed(netsuite: NetSuiteClient, redis: RedisClient, since: datetime, **options: Any) -> SalesOrderFeed:
    return SalesOrderFeed(netsuite, redis, initial_since=since, lag=0.0, **options)


@pytest.fixture
def started(redis: RedisClient) -> datetime:
    """The feed's start time; Redis is empty (no watermark, no stream)."""
    return datetime.now(UTC) - timedelta(seconds=1)


async def test_approved_order_yields_exactly_one_event(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient, started: datetime
) -> None:
    feed = _feed(netsuite, redis, started)
    assert await feed.poll_once() == 0  # seeded history is older than the start
    order_id = await _new_order(netsuite, "SF-0068d00000DEMO2AAA")
    assert await feed.poll_once() == 0  # pending approval is not booked
    await admin(sandbox, "POST", f"/sales-orders/{order_id}/approve")
    assert await feed.poll_once() == 1
    [event] = await _events(redis)
    assert event.type == SALES_ORDER_BOOKED
    assert event.id == f"erp-so-booked-{order_id}"
    assert event.subject == order_id
    assert event.legalentity == "GB01"
    assert event.data == {
        "sales_order_id": order_id,
        "external_id": "SF-0068d00000DEMO2AAA",
        "subsidiary_id": "3",
        "status_code": "B",
        "total": {"amount": "3000.00", "currency": "GBP"},
    }
    assert await feed.poll_once() == 0
    restarted = _feed(netsuite, redis, datetime(2020, 1, 1, tzinfo=UTC))  # stored watermark wins
    assert await restarted.poll_once() == 0
    await netsuite.set_order_status(order_id, "F")  # billed later: still the same booking
    assert await restarted.poll_once() == 0
    assert len(await _events(redis)) == 1
    watermark: Any = await redis.get(WATERMARK_KEY)
    assert watermark.decode().endswith(f"|{order_id}")


async def test_history_since_a_given_time_is_published_once_across_pages(
    netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    since = datetime(2026, 10, 1, tzinfo=UTC)
    assert await _feed(netsuite, redis, since, page_size=3).poll_once() == SEEDED_BOOKED
    assert await _feed(netsuite, redis, since, page_size=3).poll_once() == 0
    events = await _events(redis)
    assert len({e.id for e in events}) == len(events) == SEEDED_BOOKED
    assert all(e.data["status_code"] in "BDEFG" for e in events)


async def test_concurrent_pollers_publish_each_booking_once(netsuite: NetSuiteClient, redis: RedisClient) -> None:
    since = datetime(2026, 10, 1, tzinfo=UTC)
    feeds = [_feed(netsuite, redis, since, page_size=2) for _ in range(3)]
    for _ in range(4):  # a poller that lost a WATCH race leaves the rest to the next round
        await asyncio.gather(*(feed.poll_once() for feed in feeds))
    events = await _events(redis)
    assert len(events) == len({e.id for e in events}) == SEEDED_BOOKED


async def test_the_service_runs_the_feed_in_its_lifespan(sandbox: str, redis_url: str, redis: RedisClient) -> None:
    settings = ErpSettings(
        redis_url=redis_url, sandbox_url=sandbox, auth_required=False, feed_interval=0.05, feed_lag=0.0
    )
    async with AsyncTestClient(create_app(settings)) as api:
        customer = await api.put(
            "/v1/customers/SF-0018d00000DEMOAAAA",
            json={"name": "Rheinwerk Analytics GmbH", "subsidiary_id": "2", "currency": "EUR"},
        )
        line = {
            "item_id": "101",
            "quantity": "10",
            "unit_price": {"amount": "1200.00", "currency": "EUR"},
            "amount": {"amount": "12000.00", "currency": "EUR"},
        }
        order = await api.put(
            "/v1/sales-orders/SF-0068d00000DEMO1AAA",
            json={
                "customer_id": customer.json()["id"],
                "subsidiary_id": "2",
                "currency": "EUR",
                "tran_date": "2026-11-30",
                "lines": [line],
            },
        )
        order_id = order.json()["id"]
        await admin(sandbox, "POST", f"/sales-orders/{order_id}/approve")
        await admin(sandbox, "POST", "/periods/2/2026-11/close")
        for _ in range(100):  # the pollers in the app's lifespan publish within a few intervals
            if {e.type for e in await _events(redis)} >= {SALES_ORDER_BOOKED, PERIOD_CLOSED, CUSTOMER_CHANGED}:
                break
            await asyncio.sleep(0.05)
    by_type = {e.type: e for e in await _events(redis)}
    assert by_type[SALES_ORDER_BOOKED].subject == order_id
    assert by_type[SALES_ORDER_BOOKED].data["total"] == {"amount": "12000.00", "currency": "EUR"}
    assert by_type[PERIOD_CLOSED].data["period"] == "2026-11"
    assert by_type[CUSTOMER_CHANGED].data["name"] == "Rheinwerk Analytics GmbH"


class _FakeNetSuite:
    """A SuiteQL source serving fixed rows (the feed only needs `suiteql`)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage:
        page = self.rows[offset : offset + limit]
        return SuiteQLPage(items=page, has_more=offset + limit < len(self.rows), offset=offset, total=len(self.rows))


async def test_an_unmappable_booking_is_dead_lettered_without_blocking_the_next(redis: RedisClient) -> None:
    def row(order_id: str, currency: str, second: int) -> dict[str, Any]:
        return {
            "id": order_id,
            "externalid": f"SF-{order_id}",
            "subsidiary": "1",
            "currency": currency,
            "status": "B",
            "foreigntotal": "10",
            "lastmodifieddate": f"2026-11-02T09:00:0{second}.000Z",
        }

    source = _FakeNetSuite([row("7001", "9", 1), row("7002", "1", 2)])
    feed = SalesOrderFeed(source, redis, initial_since=datetime(2026, 11, 1, tzinfo=UTC), lag=0.0)
    assert await feed.poll_once() == 1
    assert [e.subject for e in await _events(redis)] == ["7002"]
    dead: Any = await redis.xrange(f"{ERP_STREAM}:dead")
    assert len(dead) == 1
    assert b"currency id '9'" in dead[0][1][b"reason"]
    assert await feed.poll_once() == 0
