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


async def test_a_deal_resolved_without_posting_stays_visible_until_it_is_posted(redis: RedisClient) -> None:
    clock_at = [datetime(2026, 11, 27, 8, 0, tzinfo=UTC)]
    deals = [opportunity("0068d00000OPS04AAA", currency="EUR"), opportunity("0068d00000OPS05AAA", currency="EUR")]
    crm = FakeCrm(*deals)
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=crm,
        erp=FakeErp(book_on_create=True),
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
        clock=lambda: clock_at[0],
    )
    for deal in deals:
        run, _ = await engine.start(deal.id, actor="client:demo")
        await engine.advance(run.id, actor="worker:a")
    assert (await summarise(redis, clock_at[0])).unposted_orders == 2

    # A person closes one exception as handled outside the flow: no ERP order exists for the deal.
    resolved = f"exc-q2c-{deals[0].id}-1"
    changed = await engine.change_exception(
        resolved, lambda r: r.act("resolved", "client:ops", clock_at[0], "resolved", note="invoiced by hand")
    )
    assert changed is not None
    summary = await summarise(redis, clock_at[0])
    assert (summary.unposted_orders, summary.resolved_without_posting, summary.open_exceptions) == (1, 1, 1)
    assert (await summarise(redis, clock_at[0], "GB01")).resolved_without_posting == 1
    assert (await summarise(redis, clock_at[0], "DE01")).resolved_without_posting == 0
    assert (
        await summarise(redis, clock_at[0], entities=frozenset({"DE01"}), everything=False)
    ).resolved_without_posting == 0

    # The deal is fixed in the CRM and replayed: once its order is posted it is no longer counted.
    crm.opportunities[deals[0].id] = opportunity(deals[0].id)
    await engine.resume(f"q2c-{deals[0].id}", actor="client:ops", via="replay")
    done = await engine.advance(f"q2c-{deals[0].id}", actor="worker:a")
    assert done is not None
    assert done.state == "completed"
    summary = await summarise(redis, clock_at[0])
    assert (summary.unposted_orders, summary.resolved_without_posting) == (1, 0)
