"""The quote-to-cash state machine.

    received -> validated -> customer_resolved -> order_created -> order_booked
             -> forecast_committed -> completed          (any open state -> failed)

Each transition is a named gate (the state entered) recorded with time, actor, correlation id,
detail and the step's idempotency key `q2c:<opportunity id>:<step>`. A worker advances a run as
far as it can while holding the run's lease and stops at `order_created` until the ERP books the
order (an `erp.sales_order.booked.v1` event, or the sweep reading the order). Transient
downstream failures are retried with backoff; a refusal, or retries spent, fails the run with
the problem recorded. `on_failure` is the seam where the exception queue will attach.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from contracts import SalesOrder
from process_apis.controls import MappingSet
from process_apis.errors import OpportunityNotApproved, ProcessError, RunNotFound
from process_apis.ports import CrmPort, ErpPort, PlanningPort
from process_apis.schemas import TERMINAL_STATES, Gate, QuoteToCashRun, status_of
from process_apis.workflows import commands
from process_apis.workflows.retry import RetryPolicy
from process_apis.workflows.steps import BookingSignal, QuoteToCashSteps
from process_apis.workflows.store import RunSource, RunStore, run_id_for
from process_apis.workflows.validation import is_approved, not_approved_detail
from servicekit import correlation_id

__all__ = ["BookingSignal", "FailureHook", "QuoteToCash"]

log = logging.getLogger("process_apis.quote_to_cash")
tracer = trace.get_tracer("process_apis")

FailureHook = Callable[[QuoteToCashRun], Awaitable[None]]


def _now() -> datetime:
    return datetime.now(UTC)


class QuoteToCash:
    """Starts runs and advances them through their gates against the ports."""

    def __init__(
        self,
        *,
        store: RunStore,
        crm: CrmPort,
        erp: ErpPort,
        planning: PlanningPort,
        mapping: MappingSet,
        retry: RetryPolicy | None = None,
        lock_wait: float = 0.0,
        on_failure: FailureHook | None = None,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.crm = crm
        self.erp = erp
        self.planning = planning
        self.mapping = mapping
        self.retry = retry or RetryPolicy()
        self.lock_wait = lock_wait
        self.on_failure = on_failure
        self.steps = QuoteToCashSteps(erp=erp, planning=planning, mapping=mapping, retry=self.retry, clock=clock)
        self.clock = clock

    async def get(self, run_id: str) -> QuoteToCashRun:
        run = await self.store.get(run_id)
        if run is None:
            raise RunNotFound(f"There is no quote-to-cash run {run_id!r}.")
        return run

    async def start(
        self, opportunity_id: str, *, actor: str, correlation_id: str | None = None, traceparent: str | None = None
    ) -> tuple[QuoteToCashRun, bool]:
        """The run of this opportunity, created (True) or found (False); it is queued for a worker.

        Raises OpportunityNotFound, OpportunityNotApproved or DownstreamError before writing anything.
        """
        run_id = run_id_for(opportunity_id)
        existing = await self.store.get(run_id)
        if existing is not None:
            return existing, False
        opportunity = await self.crm.get_opportunity(opportunity_id)
        if not is_approved(opportunity):
            raise OpportunityNotApproved(
                not_approved_detail(opportunity),
                extensions={"stage": opportunity.stage, "approval_status": opportunity.approval_status},
            )
        now = self.clock()
        gate = Gate(
            gate="received",
            at=now,
            actor=actor,
            detail=f"opportunity {opportunity.id} ({opportunity.stage}, {opportunity.approval_status}) received",
            correlation_id=correlation_id,
        )
        run = QuoteToCashRun(
            id=run_id,
            opportunity_id=opportunity.id,
            state="received",
            status=status_of("received"),
            mapping_version=self.mapping.version,
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
            gates=[gate],
        )
        source = RunSource(opportunity=opportunity, traceparent=traceparent)
        run, created = await self.store.create(run, source, [commands.work_item(run, traceparent=traceparent)])
        await self.store.relay(run_id)
        return run, created

    async def advance(
        self,
        run_id: str,
        *,
        actor: str,
        booking: BookingSignal | None = None,
        check_erp: bool = False,
        wait: float | None = None,
    ) -> QuoteToCashRun | None:
        """Move the run as far as it goes now; None for an unknown run.

        Raises RunBusy when another worker holds the run for longer than `wait` (default `lock_wait`) s.
        """
        async with self.store.lease(run_id, wait=self.lock_wait if wait is None else wait) as lease:
            run = await self.store.get(run_id)
            if run is None:
                return None
            if run.state not in TERMINAL_STATES:
                source = await self.store.source(run_id)
                run = await self._drive(run, source, lease, actor=actor, booking=booking, check_erp=check_erp)
            await self.store.relay(run_id)
            return run

    async def _drive(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        lease: str,
        *,
        actor: str,
        booking: BookingSignal | None,
        check_erp: bool,
    ) -> QuoteToCashRun:
        cid_token = correlation_id.set(run.correlation_id)
        ctx_token = otel_context.attach(propagate.extract({"traceparent": source.traceparent or ""}))
        booked: SalesOrder | None = None
        try:
            with tracer.start_as_current_span("q2c.advance", attributes={"fig.run_id": run.id}):
                while run.state not in TERMINAL_STATES:
                    try:
                        step = await self.steps.next(
                            run, source, actor, booking=booking, check_erp=check_erp, booked=booked
                        )
                    except ProcessError as exc:
                        step = self.steps.fail(run, exc, actor)
                    if step is None:
                        break
                    booked = step.booked
                    run = step.run
                    await self.store.commit(run, lease, step.effects)
                    log.info("run passed gate", extra={"run_id": run.id, "gate": run.state, "actor": actor})
                    if run.state == "failed" and self.on_failure is not None:
                        await self.on_failure(run)
        finally:
            otel_context.detach(ctx_token)
            correlation_id.reset(cid_token)
        return run
