"""A vendor outage far longer than the step retries: runs wait at their gate, then resume by themselves.

The ERP is unavailable for twenty minutes (the step retries are spent in milliseconds here); the
run waits at `customer_resolved`, visible as waiting for the ERP in the ops summary, and is neither
an exception nor unposted. The write that finally reaches the ERP loses its answer; the next check
finds the order by its external id: one order, and the run moves on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts import SalesOrder, SalesOrderUpsert
from process_apis.controls import load_mapping_set
from process_apis.errors import DownstreamUnavailable
from process_apis.ops.summary import summarise
from process_apis.workflows import OutagePolicy, QuoteToCash, RetryPolicy, RunStore
from process_apis.workflows.outage import outage_index
from servicekit import RedisClient
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity

RUN = f"q2c-{DEMO2}"
ORDER = f"SF-{DEMO2}"


def _down() -> DownstreamUnavailable:
    return DownstreamUnavailable("erp answered 503: NetSuite unavailable", service="erp", downstream_status=503)


class LostAnswerErp(FakeErp):
    """An ERP that is down while `down`; then the next `lose_answers` order writes reach it but
    their answers are lost (a timeout after the vendor committed)."""

    def __init__(self) -> None:
        super().__init__(book_on_create=True)
        self.down = True
        self.lose_answers = 0

    async def upsert_sales_order(
        self, external_id: str, command: SalesOrderUpsert, *, idempotency_key: str
    ) -> SalesOrder:
        if self.down:
            self.calls.append(("upsert_sales_order", external_id, idempotency_key))
            raise _down()
        order = await super().upsert_sales_order(external_id, command, idempotency_key=idempotency_key)
        if self.lose_answers:
            self.lose_answers -= 1
            raise DownstreamUnavailable("erp API unreachable: ReadTimeout", service="erp")
        return order


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _engine(redis: RedisClient, erp: FakeErp, clock: Clock, horizon: float) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(opportunity()),
        erp=erp,
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=3, backoff=0.001, max_backoff=0.002),
        clock=clock,
        outage=OutagePolicy(horizon=horizon, recheck_max=60.0),
    )


async def _recheck_when_due(engine: QuoteToCash, redis: RedisClient, clock: Clock) -> None:
    """Move the clock to the run's next check and let the sweep's recheck drive it."""
    due = await redis.zscore(outage_index("erp"), RUN)
    assert due is not None, "the run is not waiting for the ERP"
    clock.now = max(clock.now, datetime.fromtimestamp(due + 0.001, UTC))  # past it (microsecond rounding)
    assert await engine.recheck_outages(actor="sweep:a") == 1


async def test_a_run_waits_out_a_long_erp_outage_and_a_lost_answer_is_recognised(redis: RedisClient) -> None:
    erp, clock = LostAnswerErp(), Clock()
    engine = _engine(redis, erp, clock, horizon=4 * 3600)
    started = clock.now
    await engine.start(DEMO2, actor="client:demo")

    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert (run.state, run.status, run.waiting_for, run.waiting_since) == (
        "customer_resolved",
        "running",
        "erp",
        started,
    )
    assert run.exception_id is None
    summary = await summarise(redis, clock.now)
    assert summary.runs_waiting_for == {"erp": 1}
    assert (summary.open_exceptions, summary.unposted_orders) == (0, 0)

    # Twenty minutes of outage (the old budget was about 15 s): checked again and again, still waiting.
    checks = 0
    while clock.now - started < timedelta(minutes=20):
        await _recheck_when_due(engine, redis, clock)
        checks += 1
        waiting = await engine.get(RUN)
        assert (waiting.state, waiting.waiting_for, waiting.waiting_since) == ("customer_resolved", "erp", started)
        assert waiting.exception_id is None
    assert 5 <= checks <= 60  # backed off, not one check per step retry
    assert (await summarise(redis, clock.now)).open_exceptions == 0

    # The ERP is back, but every write of the next check reaches it and loses its answer: the run
    # waits again, its order is in the ERP (once: each attempt upserts the same external id).
    erp.down, erp.lose_answers = False, 4
    await _recheck_when_due(engine, redis, clock)
    assert len(erp.orders) == 1
    assert (await engine.get(RUN)).waiting_for == "erp"
    assert (await summarise(redis, clock.now)).unposted_orders == 0
    # The next check upserts the same external id again: it finds that order, posts no second one.
    await _recheck_when_due(engine, redis, clock)
    done = await engine.get(RUN)
    assert done.waiting_for is None
    assert done.waiting_since is None
    assert done.state == "completed"
    assert list(erp.orders) == [ORDER]
    assert done.erp_order_id == erp.orders[ORDER].id
    summary = await summarise(redis, clock.now)
    assert summary.runs_waiting_for == {}
    assert (summary.open_exceptions, summary.unposted_orders, summary.orders_created) == (0, 0, 1)
    assert await redis.zcard(outage_index("erp")) == 0


async def test_after_the_horizon_a_waiting_run_becomes_an_exception(redis: RedisClient) -> None:
    erp, clock = LostAnswerErp(), Clock()
    engine = _engine(redis, erp, clock, horizon=600)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    while (await engine.get(RUN)).waiting_for is not None:
        assert clock.now - (await engine.get(RUN)).created_at <= timedelta(minutes=11)
        clock.now += timedelta(seconds=1)
        await _recheck_when_due(engine, redis, clock)
    parked = await engine.get(RUN)
    assert parked.state == "failed"
    assert parked.error is not None
    assert parked.error.service == "erp"
    record = await engine.exceptions.get(parked.exception_id or "")
    assert record is not None
    assert (record.reason_code, record.gate) == ("downstream_unavailable", "order_created")
    assert (await summarise(redis, clock.now)).runs_waiting_for == {}
