"""What each quote-to-cash gate does: the calls it makes downstream and the run it produces.

`QuoteToCashSteps.next()` is pure with respect to storage: it returns the next run (with its new
gate) and the effects to commit with it, or None when the run has to wait for the ERP. The engine
in `quote_to_cash.py` persists and drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from contracts import Opportunity, SalesOrder, problem_type
from process_apis.controls import EntityMapping, MappingSet
from process_apis.errors import DownstreamError, ProcessError, ValidationFailed
from process_apis.ports import ErpPort, PlanningPort
from process_apis.schemas import Gate, PlanningOutcome, QuoteToCashRun, RunError, RunState, status_of
from process_apis.workflows import commands
from process_apis.workflows.retry import RetryPolicy, with_retries
from process_apis.workflows.store import WAITING_INDEX, Effect, RunSource
from process_apis.workflows.validation import validate_opportunity

__all__ = ["BookingSignal", "QuoteToCashSteps", "Step"]

log = logging.getLogger("process_apis.quote_to_cash")

#: The gate each open state tries to pass next (a failure records it as the error's `gate`).
_NEXT: dict[str, RunState] = {
    "received": "validated",
    "validated": "customer_resolved",
    "customer_resolved": "order_created",
    "order_created": "order_booked",
    "order_booked": "forecast_committed",
    "forecast_committed": "completed",
}


@dataclass(frozen=True, kw_only=True)
class BookingSignal:
    """The ERP says an order is booked (from its event stream)."""

    order_id: str | None
    external_id: str | None
    source: str


@dataclass(frozen=True)
class Step:
    """A transition to commit: the next run, its effects, and an order found booked on creation."""

    run: QuoteToCashRun
    effects: tuple[Effect, ...] = ()
    booked: SalesOrder | None = None


class QuoteToCashSteps:
    """The gates' work against the ERP and planning ports, under one mapping set and retry policy."""

    def __init__(
        self,
        *,
        erp: ErpPort,
        planning: PlanningPort,
        mapping: MappingSet,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self.erp = erp
        self.planning = planning
        self.mapping = mapping
        self.retry = retry
        self.clock = clock

    async def next(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        actor: str,
        *,
        booking: BookingSignal | None,
        check_erp: bool,
        booked: SalesOrder | None,
    ) -> Step | None:
        """The next transition from the run's state, or None when it has to wait."""
        opportunity = source.opportunity
        if run.state == "received":
            return self._validate(run, opportunity, actor)
        entity = self.mapping.entity_for(opportunity.region)
        if entity is None:
            raise ValidationFailed(f"region {opportunity.region!r} is no longer mapped in {self.mapping.version}")
        if run.state == "validated":
            return await self._resolve_customer(run, opportunity, entity, actor)
        if run.state == "customer_resolved":
            return await self._create_order(run, opportunity, entity, actor)
        if run.state == "order_created":
            return await self._booking(run, actor, booking=booking, check_erp=check_erp, booked=booked)
        if run.state == "order_booked":
            return await self._commit_forecast(run, source, entity, actor)
        if run.state == "forecast_committed":
            return Step(self.enter(run, "completed", actor, "booking committed to ERP and planning"))
        raise AssertionError(f"no step from state {run.state}")

    def _validate(self, run: QuoteToCashRun, opportunity: Opportunity, actor: str) -> Step:
        outcome = validate_opportunity(opportunity, self.mapping)
        if outcome.entity is None or not outcome.ok:
            raise ValidationFailed(
                f"{len(outcome.violations)} control(s) refused opportunity {opportunity.id}: "
                f"{outcome.violations[0].message}",
                errors=outcome.violations,
            )
        entity = outcome.entity
        detail = (
            f"approved; region {opportunity.region} -> {entity.legal_entity} (subsidiary {entity.subsidiary_id}); "
            f"{len(opportunity.lines)} line(s) mapped; amount {opportunity.amount.amount} "
            f"{opportunity.amount.currency} matches the lines"
        )
        return Step(self.enter(run, "validated", actor, detail, legal_entity=entity.legal_entity))

    async def _resolve_customer(
        self, run: QuoteToCashRun, opportunity: Opportunity, entity: EntityMapping, actor: str
    ) -> Step:
        key = commands.step_key(opportunity.id, "resolve-customer")
        external_id = commands.customer_external_id(opportunity)
        command = commands.customer_upsert(opportunity, entity)
        customer, tries = await with_retries(
            lambda: self.erp.upsert_customer(external_id, command, idempotency_key=key), self.retry, what=key
        )
        detail = f"ERP customer {customer.id} ({external_id}) resolved{_tries(tries)}"
        return Step(self.enter(run, "customer_resolved", actor, detail, key=key, erp_customer_id=customer.id))

    async def _create_order(
        self, run: QuoteToCashRun, opportunity: Opportunity, entity: EntityMapping, actor: str
    ) -> Step:
        key = commands.step_key(opportunity.id, "create-order")
        external_id = commands.order_external_id(opportunity)
        command = commands.sales_order_upsert(opportunity, entity, self.mapping, run.erp_customer_id or "")
        order, tries = await with_retries(
            lambda: self.erp.upsert_sales_order(external_id, command, idempotency_key=key), self.retry, what=key
        )
        detail = f"ERP sales order {order.id} ({external_id}) {order.status}{_tries(tries)}"
        nxt = self.enter(
            run, "order_created", actor, detail, key=key, erp_order_id=order.id, erp_order_external_id=external_id
        )
        waiting = Effect(kind="zadd", key=WAITING_INDEX, member=run.id, score=self.clock().timestamp())
        return Step(nxt, (waiting,), booked=order if order.booked else None)

    async def _commit_forecast(self, run: QuoteToCashRun, source: RunSource, entity: EntityMapping, actor: str) -> Step:
        opportunity = source.opportunity
        key = commands.step_key(opportunity.id, "commit-forecast")
        legal_entity = run.legal_entity or entity.legal_entity
        load = commands.committed_bookings(opportunity, legal_entity, run.erp_order_id or "")
        result, tries = await with_retries(
            lambda: self.planning.load_committed_bookings(load, idempotency_key=key), self.retry, what=key
        )
        if not result.successful or result.rows_rejected:
            reasons = "; ".join(f"row {r.row}: {r.reason}" for r in result.rejected[:5])
            raise ValidationFailed(
                f"planning rejected {result.rows_rejected} of {len(load.bookings)} committed bookings "
                f"(import {result.import_id}, task {result.task_id}, state {result.state}): {reasons}",
                slug="planning-rejected",
                title="Planning rejected the committed bookings",
            )
        planning = PlanningOutcome(
            import_id=result.import_id,
            task_id=result.task_id,
            successful=result.successful,
            rows_loaded=result.rows_loaded,
            rows_rejected=result.rows_rejected,
        )
        detail = f"planning import {result.import_id} task {result.task_id}: {result.rows_loaded} row(s)"
        nxt = self.enter(run, "forecast_committed", actor, detail + _tries(tries), key=key, planning=planning)
        event = commands.booking_committed(nxt, opportunity, load, self.mapping, traceparent=source.traceparent)
        return Step(nxt, (event,))

    async def _booking(
        self,
        run: QuoteToCashRun,
        actor: str,
        *,
        booking: BookingSignal | None,
        check_erp: bool,
        booked: SalesOrder | None,
    ) -> Step | None:
        """Pass `order_booked` when the ERP's event, the order itself or the sweep says it is booked."""
        unindex = Effect(kind="zrem", key=WAITING_INDEX, member=run.id)
        if booked is not None:
            detail = f"ERP sales order {booked.id} was booked on creation ({booked.status})"
            return Step(self.enter(run, "order_booked", actor, detail), (unindex,))
        if booking is not None and (
            (booking.order_id is not None and booking.order_id == run.erp_order_id)
            or (booking.external_id is not None and booking.external_id == run.erp_order_external_id)
        ):
            detail = f"ERP booked sales order {run.erp_order_id} ({booking.source})"
            return Step(self.enter(run, "order_booked", actor, detail), (unindex,))
        if check_erp and run.erp_order_id:
            try:
                order = await self.erp.get_sales_order(run.erp_order_id)
            except DownstreamError as exc:
                log.warning("booking check failed", extra={"run_id": run.id, "error": str(exc)})
                return None
            if order.booked:
                detail = f"ERP sales order {order.id} found booked ({order.status}) by the booking sweep"
                return Step(self.enter(run, "order_booked", actor, detail), (unindex,))
        return None

    def fail(self, run: QuoteToCashRun, exc: ProcessError, actor: str) -> Step:
        error = RunError(
            type=problem_type(exc.problem_slug),
            title=exc.problem_title,
            status=exc.status,
            detail=exc.detail,
            gate=_NEXT.get(run.state),
            service=exc.service if isinstance(exc, DownstreamError) else None,
            errors=exc.errors,
        )
        nxt = self.enter(run, "failed", actor, f"{exc.problem_title}: {exc.detail}", error=error)
        return Step(nxt, (Effect(kind="zrem", key=WAITING_INDEX, member=run.id),))

    def enter(
        self, run: QuoteToCashRun, state: RunState, actor: str, detail: str, *, key: str | None = None, **changes: Any
    ) -> QuoteToCashRun:
        now = self.clock()
        gate = Gate(
            gate=state, at=now, actor=actor, detail=detail, correlation_id=run.correlation_id, idempotency_key=key
        )
        return msgspec.structs.replace(
            run, state=state, status=status_of(state), updated_at=now, gates=[*run.gates, gate], **changes
        )


def _tries(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""
