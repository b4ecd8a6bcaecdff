"""Background work of a process-API instance: the run work queue, ERP booking events, the sweep.

Every instance joins the same consumer groups, so runs are shared across instances, and an entry a
crashed instance left pending is claimed by another after `claim_idle` (servicekit.StreamConsumer).
The per-run lease keeps two workers from advancing one run at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from contracts import SALES_ORDER_BOOKED, CloudEvent
from contracts.streams import ERP_EVENTS
from process_apis.settings import ProcessSettings
from process_apis.workflows import WORK_STREAM, BookingSignal, QuoteToCash, RunBusy, run_id_for
from process_apis.workflows.commands import WORK_REQUESTED
from servicekit import RedisClient, StreamConsumer

__all__ = ["ERP_EVENTS", "ERP_GROUP", "WORK_GROUP", "QuoteToCashWorkers", "run_workers"]

log = logging.getLogger("process_apis.workers")

ERP_GROUP = "process-q2c"
WORK_GROUP = "process-q2c-work"


class QuoteToCashWorkers:
    """The handlers the consumers and the sweep call; `name` identifies this worker in the gates."""

    def __init__(self, engine: QuoteToCash, name: str) -> None:
        self.engine = engine
        self.name = name

    async def on_work(self, event: CloudEvent) -> None:
        run_id = event.data.get("run_id")
        if event.type != WORK_REQUESTED or not isinstance(run_id, str):
            log.warning("ignored work item", extra={"event_id": event.id, "event_type": event.type})
            return
        try:
            await self.engine.advance(run_id, actor=f"worker:{self.name}")
        except RunBusy:
            # The holder advances the run as far as it goes; this item asks for nothing more.
            log.info("run busy, work item dropped", extra={"run_id": run_id})

    async def on_erp_event(self, event: CloudEvent) -> None:
        """`erp.sales_order.booked.v1` for an order `SF-<opportunity id>` moves its run on.

        A busy run raises RunBusy: the entry stays pending and is retried after `claim_idle`.
        """
        if event.type != SALES_ORDER_BOOKED:
            return
        external_id = event.data.get("external_id")
        order_id = event.data.get("sales_order_id")
        if not isinstance(external_id, str) or not external_id.startswith("SF-"):
            return
        await self.engine.advance(
            run_id_for(external_id.removeprefix("SF-")),
            actor=f"erp-event:{self.name}",
            booking=BookingSignal(
                order_id=str(order_id) if order_id is not None else None,
                external_id=external_id,
                source=f"event {event.id}",
            ),
        )

    async def sweep(self) -> None:
        """Relay outboxes a crash left behind, and read the ERP for every run waiting for booking."""
        store = self.engine.store
        for run_id in await store.runs_with_outbox():
            await store.relay(run_id)
        for run_id in await store.waiting():
            try:
                run = await self.engine.advance(run_id, actor=f"sweep:{self.name}", check_erp=True, wait=0.0)
            except RunBusy:
                continue
            except Exception:
                log.exception("sweep failed for run", extra={"run_id": run_id})
                continue
            if run is None or run.status != "waiting":
                await store.forget_waiting(run_id)


def instance_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def _sweep_loop(workers: QuoteToCashWorkers, interval: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set():
            return
        try:
            await workers.sweep()
        except Exception:
            log.exception("booking sweep failed")


@asynccontextmanager
async def run_workers(engine: QuoteToCash, redis: RedisClient, settings: ProcessSettings) -> AsyncIterator[None]:
    """Run the consumers and the sweep for the block's duration; stop them gracefully on exit."""
    name = instance_name()
    workers = QuoteToCashWorkers(engine, name)
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
    for consumer in consumers:
        await consumer.ensure_group()
    tasks = [asyncio.create_task(c.run(stop), name=f"q2c-consumer-{c.consumer}") for c in consumers]
    tasks.append(asyncio.create_task(_sweep_loop(workers, settings.booking_sweep_interval, stop), name="q2c-sweep"))
    try:
        yield
    finally:
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=settings.stream_block + 2.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
