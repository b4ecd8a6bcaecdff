"""The sales-order feed fetches only settled, booked rows: NetSuite sends nothing it would skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from servicekit import RedisClient
from system_apis.erp.connector import NetSuiteClient, SuiteQLPage
from system_apis.erp.feed import SalesOrderFeed
from tests.system_apis.erp.conftest import admin
from tests.system_apis.erp.test_feed import _new_order


class _Recording:
    """The real connector, remembering every row NetSuite answered a feed query with."""

    def __init__(self, netsuite: NetSuiteClient) -> None:
        self.netsuite = netsuite
        self.rows: list[dict[str, object]] = []

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage:
        page = await self.netsuite.suiteql(query, limit=limit, offset=offset)
        self.rows.extend(page.items)
        return page


async def test_pending_and_too_young_orders_are_not_fetched(
    sandbox: str, netsuite: NetSuiteClient, redis: RedisClient
) -> None:
    source = _Recording(netsuite)
    started = datetime.now(UTC) - timedelta(seconds=1)
    pending = await _new_order(netsuite, "SF-0068d00000WIN01AAA")
    booked = await _new_order(netsuite, "SF-0068d00000WIN02AAA")
    await admin(sandbox, "POST", f"/sales-orders/{booked}/approve")

    settling = SalesOrderFeed(source, redis, initial_since=started, lag=60.0)
    assert await settling.poll_once() == 0
    assert source.rows == []  # the booking is younger than the lag: not sent until it settles

    settled = SalesOrderFeed(source, redis, initial_since=started, lag=0.0, watermark_key="fig:test:{erp}:window")
    assert await settled.poll_once() == 1
    assert [row["id"] for row in source.rows] == [booked]  # the pending order is never fetched
    assert pending not in {row["id"] for row in source.rows}
