"""Validation reads a deal's CRM account from what the CRM last said about it, and a retry from the CRM;
a deal of a customer resolved lately reuses it until the ERP says the customer changed."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from contracts import ACCOUNT_CHANGED, CUSTOMER_CHANGED, OPPORTUNITY_APPROVED, Account, Opportunity, new_event
from process_apis.controls import load_mapping_set
from process_apis.workers import QuoteToCashWorkers
from process_apis.workflows import QuoteToCash, RetryPolicy, RunStore
from process_apis.workflows.accounts import AccountSnapshots
from process_apis.workflows.customers import ResolvedCustomers
from servicekit import RedisClient
from tests.process_apis.fakes import FakeCrm, FakeErp, FakePlanning, opportunity

ACCOUNT = "0018d00000DEMOBAAA"


def engine_for(redis: RedisClient, crm: FakeCrm) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=crm,
        erp=FakeErp(),
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=1, backoff=0.001, max_backoff=0.002),
        accounts=AccountSnapshots(redis, ttl=60),
    )


async def test_deals_of_one_account_read_it_from_the_crm_once(redis: RedisClient) -> None:
    deals = [opportunity(f"0068d0000000{n}AAAA", account_id=ACCOUNT) for n in range(3)]
    crm = FakeCrm(*deals)
    engine = engine_for(redis, crm)
    for deal in deals:
        await engine.start(deal.id, actor="client:demo")
        run = await engine.advance(f"q2c-{deal.id}", actor="worker:a")
        assert run is not None
        assert run.state == "order_created"
    assert crm.account_reads == 1


async def test_a_change_event_is_what_the_next_deal_validates_and_a_retry_reads_the_crm(redis: RedisClient) -> None:
    deal = opportunity(account_id=ACCOUNT)
    crm = FakeCrm(deal)
    engine = engine_for(redis, crm)
    changed = Account(id=ACCOUNT, name="Thames Data Ltd", last_modified=datetime(2026, 11, 21, tzinfo=UTC))
    event = new_event(source="crm", type=ACCOUNT_CHANGED, data=msgspec.to_builtins(changed))
    await QuoteToCashWorkers(engine, "a").on_crm_event(event)  # the feed says: no tax jurisdiction

    await engine.start(deal.id, actor="client:demo")
    failed = await engine.advance(f"q2c-{deal.id}", actor="worker:a")
    assert failed is not None
    assert failed.state == "failed"
    assert failed.error is not None
    assert "tax" in failed.error.detail.lower()
    assert crm.account_reads == 0

    # A person fixes the account in the CRM (the fake CRM holds tax jurisdiction GB) and retries.
    crm.accounts[ACCOUNT] = msgspec.structs.replace(
        crm.accounts[ACCOUNT], last_modified=datetime(2026, 11, 22, tzinfo=UTC)
    )
    await engine.resume(failed.id, actor="client:ops", via="retry")
    retried = await engine.advance(failed.id, actor="worker:a")
    assert retried is not None
    assert retried.state == "order_created"
    assert crm.account_reads == 1
    known = await engine.accounts.get(ACCOUNT) if engine.accounts else None
    assert known is not None
    assert known.tax_jurisdiction == "GB"  # what the retry read is what later deals see


async def test_an_approval_that_carries_its_account_is_validated_without_a_crm_read(redis: RedisClient) -> None:
    deal, stranger = opportunity(account_id=ACCOUNT), opportunity("0068d00000OTHR1AAA", account_id=ACCOUNT)
    crm = FakeCrm(deal, stranger)
    engine = engine_for(redis, crm)
    carried = msgspec.structs.replace(crm.accounts[ACCOUNT], name="Thames Data Ltd", tax_jurisdiction=None)

    async def approve(opp: Opportunity, account: Account) -> None:
        data = {**msgspec.to_builtins(opp), "account": msgspec.to_builtins(account)}
        event = new_event(source="crm", type=OPPORTUNITY_APPROVED, data=data)
        await QuoteToCashWorkers(engine, "a").on_crm_event(event)

    await approve(deal, carried)
    failed = await engine.advance(f"q2c-{deal.id}", actor="worker:a")
    assert failed is not None
    assert failed.error is not None
    assert "tax" in failed.error.detail.lower()  # judged on the account the approval carried
    assert crm.account_reads == 0

    # An account that is not the deal's is not taken as its account: the CRM is read instead.
    await approve(stranger, msgspec.structs.replace(carried, id="0018d00000OTHERAAA"))
    passed = await engine.advance(f"q2c-{stranger.id}", actor="worker:a")
    assert passed is not None
    assert passed.state == "order_created"
    assert crm.account_reads == 1

    # The retry after a fix reads the CRM, not what the approval carried.
    await engine.resume(failed.id, actor="client:ops", via="retry")
    retried = await engine.advance(failed.id, actor="worker:a")
    assert retried is not None
    assert retried.state == "order_created"
    assert crm.account_reads == 2


async def test_an_older_description_never_replaces_a_newer_one(redis: RedisClient) -> None:
    snapshots = AccountSnapshots(redis, ttl=60)
    newer = Account(id=ACCOUNT, name="New name", last_modified=datetime(2026, 11, 22, tzinfo=UTC))
    older = Account(id=ACCOUNT, name="Old name", last_modified=datetime(2026, 11, 21, tzinfo=UTC))
    assert await snapshots.remember(newer)
    assert not await snapshots.remember(older)
    held = await snapshots.get(ACCOUNT)
    assert held is not None
    assert held.name == "New name"
    assert 0 < await redis.pttl(snapshots.key(ACCOUNT)) <= 60_000


async def test_deals_of_a_resolved_customer_skip_the_upsert_until_the_erp_says_it_changed(redis: RedisClient) -> None:
    deals = [opportunity(f"0068d0000000{n}AAAA", account_id=ACCOUNT) for n in range(3)]
    erp = FakeErp()
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(*deals),
        erp=erp,
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=1, backoff=0.001, max_backoff=0.002),
        customers=ResolvedCustomers(redis, ttl=60),
    )

    def upserts() -> int:
        return sum(1 for op, _, _ in erp.calls if op == "upsert_customer")

    async def order_created(deal_id: str) -> None:
        await engine.start(deal_id, actor="client:demo")
        run = await engine.advance(f"q2c-{deal_id}", actor="worker:a")
        assert run is not None
        assert run.state == "order_created"
        assert run.erp_customer_id == erp.customers[f"SF-{ACCOUNT}"].id

    await order_created(deals[0].id)
    await order_created(deals[1].id)
    assert upserts() == 1  # the second deal reused the customer the first one resolved

    changed = new_event(source="erp", type=CUSTOMER_CHANGED, data={"id": "100", "external_id": f"SF-{ACCOUNT}"})
    await QuoteToCashWorkers(engine, "a").on_erp_event(changed)  # someone changed it in the ERP
    await order_created(deals[2].id)
    assert upserts() == 2
