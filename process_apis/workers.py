"""Background work of a process-API instance: the run work queue, CRM and ERP events, the sweep.

CRM events: `crm.opportunity.approved.v1` starts quote-to-cash runs, `crm.opportunity.amended.v1`
amends them (workflows/amendments.py), `crm.account.changed.v1` customer master syncs. ERP events:
`erp.sales_order.booked.v1` moves waiting runs on, `erp.customer.changed.v1` syncs ERP-owned
fields back, `erp.period.closed.v1` loads actuals.

Every instance joins the same consumer groups, so runs are shared across instances, and an entry a
crashed instance left pending is claimed by another after `claim_idle` (servicekit.StreamConsumer).
The per-run lease keeps two workers from advancing one run at the same time; it is short and
renewed while held, so a crashed instance's runs are free again within `lock_ttl`. The sweep also
removes the consumers of instances gone for `consumer_expiry` from the groups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from redis.exceptions import RedisError

from contracts import (
    ACCOUNT_CHANGED,
    CUSTOMER_CHANGED,
    OPPORTUNITY_AMENDED,
    OPPORTUNITY_APPROVED,
    PERIOD_CLOSED,
    SALES_ORDER_BOOKED,
    Account,
    CloudEvent,
    Opportunity,
)
from contracts.streams import CRM_EVENTS, ERP_EVENTS, FINANCE_EVENTS
from process_apis.exceptions.escalation import escalate_due
from process_apis.exceptions.metrics import ExceptionGauge
from process_apis.flows import Flows
from process_apis.scheduling import Scheduler
from process_apis.schemas import QuoteToCashRun
from process_apis.settings import ProcessSettings
from process_apis.workflows import WORK_STREAM, Amendment, BookingSignal, QuoteToCash, RunBusy, run_id_for
from process_apis.workflows.commands import WORK_REQUESTED
from process_apis.workflows.forecast import ForecastBatcher
from process_apis.workflows.validation import is_approved
from servicekit import Redeliver, RedisClient, StreamConsumer
from servicekit.metrics import StreamDepthSampler, redis_error

__all__ = ["CRM_GROUP", "ERP_EVENTS", "ERP_GROUP", "WORK_GROUP", "QuoteToCashWorkers", "run_workers"]

log = logging.getLogger("process_apis.workers")

ERP_GROUP = "process-q2c"
CRM_GROUP = "process-q2c-start"
WORK_GROUP = "process-q2c-work"


class QuoteToCashWorkers:
    """The handlers the consumers and the sweep call; `name` identifies this worker in the gates."""

    def __init__(
        self,
        engine: QuoteToCash,
        name: str,
        flows: Flows | None = None,
        *,
        check_after: float = 0.0,
        check_every_max: float = 60.0,
        escalate_every: float = 60.0,
    ) -> None:
        """`check_after`: the sweep reads the ERP for a waiting run only once it has waited that long,
        and then again after as long as it has waited so far, capped at `check_every_max` s.
        `escalate_every`: seconds between escalations of exceptions past their SLA."""
        self.engine = engine
        self.name = name
        self.flows = flows
        self.batcher: ForecastBatcher | None = None
        self.scheduler: Scheduler | None = None
        self.check_after = check_after
        self.check_every_max = check_every_max
        self.escalate_every = escalate_every
        self._next_escalation = 0.0
        #: run id -> when this instance reads the ERP for it next (a run not listed is due).
        self._next_check: dict[str, float] = {}
        #: How long recent runs waited for their booking event (s), and when the last one came.
        self._event_waits: deque[float] = deque(maxlen=200)
        self._last_event = 0.0

    async def on_work(self, event: CloudEvent) -> None:
        run_id = event.data.get("run_id")
        if event.type != WORK_REQUESTED or not isinstance(run_id, str):
            log.warning("ignored work item", extra={"event_id": event.id, "event_type": event.type})
            return
        # A busy run leaves the item pending (Redeliver): if the holder is alive it moves the run on
        # and the reclaimed item finds nothing to do; if the holder died (its lease expires after
        # `lock_ttl`), the reclaimed item is what continues the run.
        try:
            await self.engine.advance(run_id, actor=f"worker:{self.name}")
        except RunBusy as busy:
            raise Redeliver(str(busy)) from None

    async def on_crm_event(self, event: CloudEvent) -> None:
        """`crm.opportunity.approved.v1` starts the opportunity's run; a duplicate finds the same run.

        The event carries the canonical opportunity, so no CRM read is needed, and, from the CRM
        feed, its account as read in the same query: kept in the run's source, it is what the first
        validation and the customer step use. An event that does not decode as an approved
        opportunity is logged and dropped (nothing to start).
        """
        if event.type == ACCOUNT_CHANGED:
            await self._remember_account(event.data)
            if self.flows is not None:
                await self.flows.on_master_change(event, actor=f"crm-event:{self.name}")
            return
        if event.type == OPPORTUNITY_AMENDED:
            await self._amend(event)
            return
        if event.type != OPPORTUNITY_APPROVED:
            return
        try:
            opportunity = msgspec.convert(event.data, type=Opportunity, strict=False)
        except msgspec.ValidationError as exc:
            log.warning("approved event without an opportunity", extra={"event_id": event.id, "error": str(exc)})
            return
        if not is_approved(opportunity):
            log.info("event for an opportunity that is not approved", extra={"event_id": event.id})
            return
        _, created = await self.engine.create(
            opportunity,
            actor=f"crm-event:{self.name}",
            origin="event",
            correlation_id=event.correlationid,
            traceparent=event.traceparent,
            account=_account(event.data.get("account")),
        )
        if not created:
            log.info("duplicate approval collapsed", extra={"event_id": event.id, "opportunity_id": opportunity.id})

    async def _amend(self, event: CloudEvent) -> None:
        """`crm.opportunity.amended.v1`: the deal's run takes the new values (or is compensated)."""
        try:
            opportunity = msgspec.convert(event.data, type=Opportunity, strict=False)
        except msgspec.ValidationError as exc:
            log.warning("amended event without an opportunity", extra={"event_id": event.id, "error": str(exc)})
            return
        amendment = Amendment(
            opportunity=opportunity, account=_account(event.data.get("account")), source=f"event {event.id}"
        )
        try:
            run = await self.engine.amend(amendment, actor=f"crm-event:{self.name}")
        except RunBusy as busy:
            raise Redeliver(str(busy)) from None
        if run is None and is_approved(opportunity):
            # The approval has not started the run yet (another instance holds its event): the
            # amended deal starts it, and the approval then finds it.
            await self.engine.create(
                opportunity,
                actor=f"crm-event:{self.name}",
                origin="event",
                correlation_id=event.correlationid,
                traceparent=event.traceparent,
                account=amendment.account,
            )

    async def _remember_account(self, data: Any) -> None:
        """An account change event carries the whole account: validation of later deals reads it."""
        account = _account(data)
        if self.engine.accounts is not None and account is not None:
            await self.engine.accounts.remember(account)

    async def on_erp_event(self, event: CloudEvent) -> None:
        """`erp.sales_order.booked.v1` for an order `SF-<opportunity id>` moves its run on.

        A busy run leaves the event pending (Redeliver): if the holder is alive it sees the order
        booked itself or parks the run waiting, and the reclaimed event moves it on after
        `claim_idle`; if the holder died, its lease expires within `lock_ttl` and the reclaimed event
        continues the run (instead of the run waiting for the sweep's next, spaced-out ERP read).
        """
        if event.type == CUSTOMER_CHANGED:
            external_id = event.data.get("external_id")
            if self.engine.customers is not None and isinstance(external_id, str):
                await self.engine.customers.forget(external_id)  # the ERP side moved: upsert next time
            if self.flows is not None:
                await self.flows.on_master_change(event, actor=f"erp-event:{self.name}")
            return
        if event.type == PERIOD_CLOSED:
            entity = event.data.get("legal_entity")
            if self.engine.periods is not None and isinstance(entity, str):
                await self.engine.periods.forget(entity)  # no order into it from now on, on any instance
            if self.flows is not None:
                await self.flows.on_period_closed(event, actor=f"erp-event:{self.name}")
            period = event.data.get("period")
            if self.scheduler is not None and isinstance(entity, str) and isinstance(period, str):
                await self.scheduler.period_closed(entity, period)  # reconciled by the scheduler's leader
            return
        if event.type != SALES_ORDER_BOOKED:
            return
        external_id = event.data.get("external_id")
        order_id = event.data.get("sales_order_id")
        if not isinstance(external_id, str) or not external_id.startswith("SF-"):
            return
        try:
            run = await self.engine.advance(
                run_id_for(external_id.removeprefix("SF-")),
                actor=f"erp-event:{self.name}",
                booking=BookingSignal(
                    order_id=str(order_id) if order_id is not None else None,
                    external_id=external_id,
                    source=f"event {event.id}",
                ),
            )
        except RunBusy as busy:
            raise Redeliver(str(busy)) from None
        if run is not None:
            self._booked_by_event(run)

    def _booked_by_event(self, run: QuoteToCashRun) -> None:
        """Note how long the run waited for its booking event (the sweep's patience follows it)."""
        created = next((g.at for g in run.gates if g.gate == "order_created"), None)
        booked = next((g.at for g in run.gates if g.gate == "order_booked" and g.actor.startswith("erp-event")), None)
        if created is not None and booked is not None:
            self._event_waits.append(max(0.0, (booked - created).total_seconds()))
            self._last_event = time.time()

    def check_after_now(self, now: float) -> float:
        """How long a run waits before the sweep reads the ERP for it.

        `check_after`, or twice the longest recent wait for a booking event while such events are
        arriving: when the whole stack is behind (a burst), events come late but they come, and
        reading the ERP for every late run would add load exactly when there is none to spare. A
        lost event is still caught, later; once events stop arriving, `check_after` applies again.
        """
        if self._event_waits and now - self._last_event < max(self.check_after, 1.0):
            return max(self.check_after, 2 * max(self._event_waits))
        return self.check_after

    async def sweep(self) -> None:
        """Relay outboxes a crash left behind, retry runs whose automatic retry is due, escalate
        exceptions past their SLA, check again the runs waiting out an outage, and read the ERP for
        every run waiting for booking."""
        store = self.engine.store
        for run_id in await store.runs_with_outbox():
            await store.relay(run_id)
        await self.engine.retry_due(
            actor=f"sweep:{self.name}", others=self.flows.retry if self.flows is not None else None
        )
        # Exceptions past their SLA go to their owner team's escalation target (a full read of the
        # queue, so not on every sweep).
        if time.monotonic() >= self._next_escalation:
            self._next_escalation = time.monotonic() + self.escalate_every
            await escalate_due(self.engine, self.flows)
        # Runs waiting out a system's outage at their gate: those due are checked again.
        await self.engine.recheck_outages(actor=f"sweep:{self.name}")
        if self.batcher is not None:
            await self.batcher.requeue_stale()
        # The booking event is what moves a waiting run on; the sweep is the net for a lost event.
        # Reading the ERP for every waiting run on every sweep cost one lease and one ERP read per
        # run and interval (most of them booked by their event a moment later): a run is read only
        # once it has waited `check_after`, then with its spacing growing with its waiting time.
        now = time.time()
        patience = self.check_after_now(now)
        waiting = await store.waiting_since(now - patience)
        listed = {run_id for run_id, _ in waiting}
        self._next_check = {k: v for k, v in self._next_check.items() if k in listed}
        for run_id, since in waiting:
            if self._next_check.get(run_id, 0.0) > now:
                continue
            self._next_check[run_id] = now + min(self.check_every_max, max(patience, now - since))
            try:
                run = await self.engine.advance(run_id, actor=f"sweep:{self.name}", check_erp=True, wait=0.0)
            except RunBusy:
                continue
            except Exception:
                log.exception("sweep failed for run", extra={"run_id": run_id})
                continue
            if run is None or run.status != "waiting":
                await store.forget_waiting(run_id)


def _account(data: Any) -> Account | None:
    """The canonical account an event carries, or None (absent or undecodable: the sync logs those)."""
    if data is None:
        return None
    try:
        return msgspec.convert(data, type=Account, strict=False)
    except msgspec.ValidationError:
        return None


def instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def _forecast_loop(batcher: ForecastBatcher, window: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), window)
        try:
            # Drain: a full batch means more are waiting, so do not wait a window for them.
            while await batcher.flush() >= batcher.batch_max:
                pass
        except Exception:
            log.exception("forecast batch failed")


async def _sweep_loop(
    workers: QuoteToCashWorkers,
    interval: float,
    stop: asyncio.Event,
    consumers: Sequence[StreamConsumer] = (),
    consumer_expiry: float = 120.0,
) -> None:
    # One consumer per group removes the group's dead consumers (any of this instance's would do).
    per_group = {(c.stream, c.group): c for c in consumers}
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await workers.sweep()
        except Exception:
            log.exception("booking sweep failed")
        for consumer in per_group.values():
            try:
                await consumer.remove_dead_consumers(int(consumer_expiry * 1000))
            except Exception:
                log.exception("removing dead consumers failed", extra={"group": consumer.group})


async def _metrics_loop(redis: RedisClient, interval: float, stop: asyncio.Event) -> None:
    """Sample what the process's metrics read from Redis: stream depths and the exception queue."""
    streams = StreamDepthSampler(redis, (WORK_STREAM, ERP_EVENTS, CRM_EVENTS, FINANCE_EVENTS), interval=interval)
    exceptions = ExceptionGauge(redis)
    while not stop.is_set():
        await streams.sample()
        try:
            await exceptions.sample()
        except (RedisError, OSError):
            redis_error("exception-gauge")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


@asynccontextmanager
async def run_workers(
    engine: QuoteToCash,
    redis: RedisClient,
    settings: ProcessSettings,
    *,
    flows: Flows | None = None,
    scheduler: Scheduler | None = None,
) -> AsyncIterator[None]:
    """Run the consumers, the sweep and (given) the scheduler for the block's duration; stop them
    gracefully on exit."""
    name = instance_name()
    check_after = settings.booking_check_after
    if check_after is None:
        check_after = 3 * settings.booking_sweep_interval
    workers = QuoteToCashWorkers(
        engine, name, flows, check_after=check_after, escalate_every=settings.escalation_interval
    )
    workers.scheduler = scheduler
    stop = asyncio.Event()
    common = {
        "block_ms": max(1, int(settings.stream_block * 1000)),
        "claim_idle_ms": max(1, int(settings.claim_idle * 1000)),
    }
    consumers = [
        StreamConsumer(redis, WORK_STREAM, WORK_GROUP, f"{name}-{i}", workers.on_work, **common)
        for i in range(max(1, settings.worker_concurrency))
    ]
    consumers.append(StreamConsumer(redis, ERP_EVENTS, ERP_GROUP, name, workers.on_erp_event, **common))
    if settings.consume_crm_events:
        consumers.append(StreamConsumer(redis, CRM_EVENTS, CRM_GROUP, name, workers.on_crm_event, **common))
    for consumer in consumers:
        await consumer.ensure_group()
    tasks = [asyncio.create_task(c.run(stop), name=f"q2c-consumer-{c.consumer}") for c in consumers]
    sweep = _sweep_loop(workers, settings.booking_sweep_interval, stop, consumers, settings.consumer_expiry)
    tasks.append(asyncio.create_task(sweep, name="q2c-sweep"))
    tasks.append(asyncio.create_task(_metrics_loop(redis, settings.metrics_interval, stop), name="q2c-metrics"))
    if scheduler is not None:
        tasks.append(asyncio.create_task(scheduler.run(stop, settings.scheduler_tick), name="scheduler"))
    if settings.forecast_window > 0:
        batcher = ForecastBatcher(engine, name, batch_max=settings.forecast_batch_max, claim_ttl=settings.lock_ttl)
        workers.batcher = batcher
        tasks.append(asyncio.create_task(_forecast_loop(batcher, settings.forecast_window, stop), name="q2c-forecast"))
    try:
        yield
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=settings.stream_block + 2.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
