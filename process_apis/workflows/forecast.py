"""Batched forecast commits: one planning import per window carries the bookings of many runs.

Anaplan runs one import per model at a time (the planning system API serialises them), so one
import per run caps quote-to-cash at the import rate. With batching on, a run that passed
`order_booked` waits in `fig:q2c:forecast-pending`; every `window` seconds a batcher (any
instance) takes up to `batch_max` runs with ZPOPMIN (atomic: each run is taken once), loads all
their committed-bookings cells in one import (idempotency key derived from the run ids), and moves
each run through `forecast_committed` with its own share of the result: a run whose rows the
platform rejected fails alone. Taken runs are kept in `fig:q2c:forecast-claimed` until they moved
on (their claim refreshed while the batch is carried), so a batcher that dies mid-batch leaves them
for the sweep to queue again once the claim is `claim_ttl` old (`requeue_stale`);
reloading the same cells is harmless because booking codes are stable (`SO<order>-<line>`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from contracts import CommittedBooking, CommittedBookingsLoad
from process_apis.errors import ProcessError
from process_apis.workflows import commands
from process_apis.workflows.quote_to_cash import QuoteToCash
from process_apis.workflows.retry import with_retries
from process_apis.workflows.steps import FORECAST_PENDING, ForecastSignal
from process_apis.workflows.store import RunBusy
from servicekit import correlation_id

__all__ = ["FORECAST_CLAIMED", "ForecastBatcher"]

log = logging.getLogger("process_apis.forecast")
_tracer = trace.get_tracer("process_apis.forecast")

FORECAST_CLAIMED = "fig:q2c:forecast-claimed"


class ForecastBatcher:
    def __init__(self, engine: QuoteToCash, name: str, *, batch_max: int = 500, claim_ttl: float = 60.0) -> None:
        """`claim_ttl`: a batch whose batcher stopped refreshing its claim that long ago (died) is
        queued again by the sweep (`requeue_stale`)."""
        self.engine = engine
        self.name = name
        self.batch_max = batch_max
        self.claim_ttl = claim_ttl
        self.redis: Any = engine.store.redis

    async def flush(self) -> int:
        """Commit one batch of pending runs; returns how many runs it carried."""
        popped = await self.redis.zpopmin(FORECAST_PENDING, self.batch_max)
        if not popped:
            return 0
        now = self.engine.clock().timestamp()
        run_ids = [m.decode() if isinstance(m, bytes) else str(m) for m, _ in popped]
        await self.redis.zadd(FORECAST_CLAIMED, dict.fromkeys(run_ids, now))
        keeper = asyncio.create_task(self._keep_claimed(run_ids))
        try:
            carried = await self._carry(run_ids)
        finally:
            keeper.cancel()
        await self.redis.zrem(FORECAST_CLAIMED, *run_ids)
        return carried

    async def _keep_claimed(self, run_ids: list[str]) -> None:
        """Refresh the batch's claim every third of `claim_ttl` while it is carried: a live batcher's
        batch is never taken for stale, a dead one's is after `claim_ttl`."""
        while True:
            await asyncio.sleep(self.claim_ttl / 3)
            now = self.engine.clock().timestamp()
            try:
                await self.redis.zadd(FORECAST_CLAIMED, dict.fromkeys(run_ids, now), xx=True)
            except Exception:
                log.exception("refreshing the forecast batch claim failed", extra={"runs": len(run_ids)})

    async def _carry(self, run_ids: list[str]) -> int:
        cells: list[CommittedBooking] = []
        spans: list[tuple[str, int, int]] = []
        contexts: set[tuple[str | None, str | None]] = set()
        links: list[trace.Link] = []
        for run_id, run, source in await self.engine.store.get_many(run_ids):
            if run is None or source is None or run.state != "order_booked":
                continue
            load = commands.committed_bookings(
                source.opportunity, run.legal_entity or "", run.erp_order_id or "", posting_period=run.posting_period
            )
            spans.append((run_id, len(cells), len(load.bookings)))
            contexts.add((run.correlation_id, source.traceparent))
            carried = trace.get_current_span(propagate.extract({"traceparent": source.traceparent or ""}))
            if carried.get_span_context().is_valid:
                links.append(trace.Link(carried.get_span_context(), {"fig.run_id": run_id}))
            cells.extend(load.bookings)
        if cells:
            # A batch of one run keeps that run's correlation id and trace; a larger batch is its own.
            cid, traceparent = contexts.pop() if len(contexts) == 1 else (None, None)
            cid_token = correlation_id.set(cid or f"forecast-{uuid.uuid4().hex[:16]}")
            ctx_token = otel_context.attach(propagate.extract({"traceparent": traceparent or ""}))
            try:
                # One span per batch, linked to every run it carries (in the run's own trace when alone).
                with _tracer.start_as_current_span(
                    "q2c.forecast_batch",
                    links=links,
                    attributes={"fig.workflow": "quote_to_cash", "fig.runs": len(spans)},
                ):
                    await self._commit(cells, spans)
            finally:
                otel_context.detach(ctx_token)
                correlation_id.reset(cid_token)
        return len(spans)

    async def _commit(self, cells: list[CommittedBooking], spans: list[tuple[str, int, int]]) -> None:
        batch = "q2c:forecast-batch:" + hashlib.sha256(",".join(r for r, _, _ in spans).encode()).hexdigest()[:24]
        actor = f"forecast-batcher:{self.name}"
        try:
            result, _ = await with_retries(
                lambda: self.engine.planning.load_committed_bookings(
                    CommittedBookingsLoad(bookings=cells), idempotency_key=batch
                ),
                self.engine.retry,
                what=batch,
            )
        except ProcessError as exc:
            # The import failed as a whole: every run waits for the next window (transient) and the
            # failure is logged; a refusal of the whole file parks nobody here, it repeats visibly.
            log.warning("forecast batch failed, runs queued again", extra={"batch": batch, "error": str(exc)})
            now = self.engine.clock().timestamp()
            await self.redis.zadd(FORECAST_PENDING, {r: now for r, _, _ in spans})
            return
        for run_id, start, count in spans:
            rejected = tuple(r for r in result.rejected if start < r.row <= start + count)
            signal = ForecastSignal(result=result, rows=count, rejected=rejected, batch=batch)
            try:
                await self.engine.advance(run_id, actor=actor, forecast=signal, wait=self.engine.lock_wait)
            except RunBusy:
                await self.redis.zadd(FORECAST_PENDING, {run_id: self.engine.clock().timestamp()})
        log.info("forecast batch committed", extra={"batch": batch, "runs": len(spans), "cells": len(cells)})

    async def requeue_stale(self, older_than: float | None = None) -> int:
        """Queue again runs whose batcher has not refreshed its claim for `older_than` s (default
        `claim_ttl`): it died."""
        cutoff = self.engine.clock().timestamp() - (self.claim_ttl if older_than is None else older_than)
        stale = await self.redis.zrangebyscore(FORECAST_CLAIMED, "-inf", cutoff)
        if not stale:
            return 0
        now = self.engine.clock().timestamp()
        await self.redis.zadd(FORECAST_PENDING, dict.fromkeys(stale, now))
        await self.redis.zrem(FORECAST_CLAIMED, *stale)
        return len(stale)
