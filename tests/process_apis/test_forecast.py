"""Batched forecast commits: one planning import carries many runs; each passes or fails on its rows."""

from __future__ import annotations

from contracts import CommittedBookingsLoad, PlanningImportResult, RejectedRow
from process_apis.controls import load_mapping_set
from process_apis.workflows import QuoteToCash, RetryPolicy, RunStore
from process_apis.workflows.forecast import FORECAST_CLAIMED, ForecastBatcher
from servicekit import RedisClient
from tests.process_apis.fakes import FakeCrm, FakeErp, opportunity


class RejectingPlanning:
    """Rejects every FIG-SERV cell, as Anaplan rejects a row naming an unknown list item."""

    def __init__(self) -> None:
        self.loads: list[tuple[CommittedBookingsLoad, str]] = []

    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        self.loads.append((load, idempotency_key))
        rejected = [
            RejectedRow(row=n, reason="unknown product")
            for n, b in enumerate(load.bookings, start=1)
            if b.product_code == "FIG-SERV"
        ]
        return PlanningImportResult(
            import_id="112000000001", task_id="task-1", state="COMPLETE", successful=not rejected,
            rows_loaded=len(load.bookings) - len(rejected), rows_rejected=len(rejected), rejected=rejected,
        )  # fmt: skip


async def test_one_import_carries_the_window_and_a_rejected_row_fails_only_its_run(redis: RedisClient) -> None:
    deals = [
        opportunity("0068d00000FCA01AAA", account_id="0018d00000FCA01AAA"),
        opportunity("0068d00000FCA02AAA", account_id="0018d00000FCA02AAA", lines=(("FIG-SERV", "1", "900.00"),)),
        opportunity("0068d00000FCA03AAA", account_id="0018d00000FCA03AAA"),
    ]
    planning = RejectingPlanning()
    engine = QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=FakeCrm(*deals),
        erp=FakeErp(book_on_create=True),
        planning=planning,
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=0),
        batch_forecast=True,
    )
    for deal in deals:
        run, _ = await engine.start(deal.id, actor="client:demo")
        waiting = await engine.advance(run.id, actor="worker:a")
        assert waiting is not None
        assert waiting.state == "order_booked"  # waits for the batch, no import yet
    assert planning.loads == []

    batcher = ForecastBatcher(engine, "test")
    assert await batcher.flush() == 3
    [(load, key)] = planning.loads
    assert key.startswith("q2c:forecast-batch:")
    assert len(load.bookings) == 3
    states = {d.id: (await engine.get(f"q2c-{d.id}")).state for d in deals}
    assert states == {
        "0068d00000FCA01AAA": "completed",
        "0068d00000FCA02AAA": "failed",
        "0068d00000FCA03AAA": "completed",
    }
    failed = await engine.get("q2c-0068d00000FCA02AAA")
    assert failed.error is not None
    assert failed.error.type.endswith("/planning-rejected")
    assert await batcher.flush() == 0
    assert await redis.zcard(FORECAST_CLAIMED) == 0


async def test_runs_a_dead_batcher_took_are_queued_again(redis: RedisClient) -> None:
    await redis.zadd(FORECAST_CLAIMED, {"q2c-0068d00000OLD01AAA": 1.0})
    engine = QuoteToCash(
        store=RunStore(redis), crm=FakeCrm(), erp=FakeErp(), planning=RejectingPlanning(),
        mapping=load_mapping_set("default-v1"), batch_forecast=True,
    )  # fmt: skip
    assert await ForecastBatcher(engine, "test").requeue_stale(older_than=60) == 1
    assert await redis.zrange("fig:q2c:forecast-pending", 0, -1) == [b"q2c-0068d00000OLD01AAA"]
