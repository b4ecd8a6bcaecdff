"""`GET /v1/ops/summary` from stored state: exceptions, aging, SLA breaches, policy violations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from process_apis.controls import load_mapping_set
from process_apis.ops import summarise
from process_apis.workflows import QuoteToCash, RetryPolicy, RunStore
from servicekit import RedisClient
from tests.process_apis.fakes import FakeCrm, FakeErp, FakePlanning, opportunity


async def test_the_summary_counts_what_redis_holds(redis: RedisClient) -> None:
    clock_at = [datetime(2026, 11, 27, 8, 0, tzinfo=UTC)]
    deals = [
        opportunity("0068d00000OPS01AAA", region="APAC", currency="USD"),
        opportunity("0068d00000OPS02AAA", currency="EUR"),
        opportunity("0068d00000OPS03AAA"),
    ]
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(*deals),
        erp=FakeErp(book_on_create=True),
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
        clock=lambda: clock_at[0],
    )
    for deal in deals:
        run, _ = await engine.start(deal.id, actor="client:demo")
        await engine.advance(run.id, actor="worker:a")
    await redis.hincrby("fig:ops:policy-violations", "customer_master:erp:credit_limit", 2)
    await redis.hincrby("fig:ops:policy-violations", "customer_master:crm:name", 1)

    later = clock_at[0] + timedelta(hours=30)
    summary = await summarise(redis, later)
    assert (summary.orders_created, summary.runs_completed, summary.open_exceptions) == (1, 1, 2)
    assert summary.unposted_orders == 2
    assert summary.exceptions_by_reason == {"unmapped_region": 1, "unsupported_currency": 1}
    assert summary.exception_aging.over_24h == 2
    assert summary.sla_breaches == 2  # both have a 24 h SLA
    assert summary.policy_violations_by_flow == {"customer_master": 3}
    assert summary.share_of_automated_postings is not None
    assert str(summary.share_of_automated_postings) == "0.0000"  # started through the API

    fresh = await summarise(redis, clock_at[0] + timedelta(minutes=5), "GB01")
    assert (fresh.open_exceptions, fresh.sla_breaches, fresh.exception_aging.under_1h) == (1, 0, 1)
    assert fresh.exceptions_by_reason == {"unsupported_currency": 1}
