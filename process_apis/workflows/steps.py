"""What each quote-to-cash gate does: the calls it makes downstream and the run it produces.

`QuoteToCashSteps.next()` is pure with respect to storage: it returns the next run (with its new
gate) and the effects to commit with it, or None when the run has to wait for the ERP. The engine
in `quote_to_cash.py` persists and drives it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from contracts import (
    Account,
    Customer,
    Opportunity,
    PlanningImportResult,
    ProblemFieldError,
    RejectedRow,
    SalesOrder,
    problem_type,
)
from process_apis.actors import is_manual
from process_apis.controls import EntityMapping, MappingSet, RuleSet
from process_apis.errors import DownstreamError, ProcessError, ValidationFailed
from process_apis.flows.customer_sync import SentFields, SyncRequest, from_account
from process_apis.ports import CrmPort, ErpPort, PlanningPort, ReferenceTaxCode
from process_apis.schemas import Gate, PlanningOutcome, QuoteToCashRun, RunError, RunState, status_of
from process_apis.workflows import commands
from process_apis.workflows.accounts import AccountSnapshots
from process_apis.workflows.customers import ResolvedCustomers
from process_apis.workflows.metrics import daily, lag_bucket, scaled_amount
from process_apis.workflows.overrides import overridden_account, overridden_mapping
from process_apis.workflows.periods import PeriodCalendar
from process_apis.workflows.retry import RetryPolicy, with_retries
from process_apis.workflows.store import OPS_COUNTERS, WAITING_INDEX, Effect, RunSource
from process_apis.workflows.taxes import TaxCodes, line_tax_codes
from process_apis.workflows.validation import validate_opportunity

__all__ = ["FORECAST_PENDING", "NEXT_GATE", "BookingSignal", "ForecastSignal", "QuoteToCashSteps", "Step"]

#: Runs whose committed bookings wait for the next batched planning import (score = since when).
FORECAST_PENDING = "fig:q2c:forecast-pending"

log = logging.getLogger("process_apis.quote_to_cash")

#: The gate each open state tries to pass next (a failure records it as the error's `gate`).
NEXT_GATE: dict[str, RunState] = {
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


@dataclass(frozen=True, kw_only=True)
class ForecastSignal:
    """A batched planning import (workflows/forecast.py) that carried this run's committed bookings."""

    result: PlanningImportResult
    #: This run's rows in the import: how many, and the planning platform's rejections among them.
    rows: int
    rejected: tuple[RejectedRow, ...] = ()
    batch: str = ""


@dataclass(frozen=True)
class Step:
    """A transition to commit: the next run, its effects, and an order found booked on creation."""

    run: QuoteToCashRun
    effects: tuple[Effect, ...] = ()
    booked: SalesOrder | None = None


class QuoteToCashSteps:
    """The gates' work against the ports under one retry policy; controls are passed per step."""

    def __init__(
        self,
        *,
        crm: CrmPort,
        erp: ErpPort,
        planning: PlanningPort,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
        batch_forecast: bool = False,
        accounts: AccountSnapshots | None = None,
        customers: ResolvedCustomers | None = None,
        sent: SentFields | None = None,
        periods: PeriodCalendar | None = None,
        taxes: TaxCodes | None = None,
    ) -> None:
        """`periods`: the ERP's accounting calendar; an order is not posted into a closed period.
        `taxes`: the ERP's tax codes; validation resolves each line's (workflows/taxes.py).
        `batch_forecast`: the forecast gate waits for a batched import instead of loading alone.
        `accounts`: validation reads a deal's account there first (a retry always reads the CRM).
        `customers`: a customer resolved lately with the same values is not upserted again.
        `sent`: the customer-master sync's memory of fields sent (a new customer's CRM fields)."""
        self.batch_forecast = batch_forecast
        self.accounts = accounts
        self.customers = customers
        self.sent = sent
        self.periods = periods
        self.taxes = taxes
        self.crm = crm
        self.erp = erp
        self.planning = planning
        self.retry = retry
        self.clock = clock

    async def next(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        actor: str,
        *,
        mapping: MappingSet,
        rules: RuleSet,
        booking: BookingSignal | None,
        check_erp: bool,
        booked: SalesOrder | None,
        forecast: ForecastSignal | None = None,
    ) -> Step | None:
        """The next transition from the run's state under `mapping`/`rules`, or None when it has to wait."""
        opportunity = source.opportunity
        if run.overrides is not None:
            mapping = overridden_mapping(mapping, run, opportunity.region)
        if run.state == "received":
            return await self._validate(run, source, mapping, rules, actor)
        entity = mapping.entity_for(opportunity.region)
        if entity is None:
            raise ValidationFailed(
                f"region {opportunity.region!r} is no longer mapped in {mapping.version}",
                errors=[ProblemFieldError(location="$.region", message="region not mapped")],
            )
        if run.state == "validated":
            return await self._resolve_customer(run, source, entity, actor)
        if run.state == "customer_resolved":
            return await self._create_order(run, opportunity, entity, mapping, actor)
        if run.state == "order_created":
            return await self._booking(run, actor, booking=booking, check_erp=check_erp, booked=booked)
        if run.state == "order_booked":
            if self.batch_forecast and forecast is None:
                return None  # the forecast batcher brings the import that carries this run's rows
            return await self._commit_forecast(run, source, entity, mapping, actor, forecast=forecast)
        if run.state == "forecast_committed":
            done = Effect(kind="hincrby", key=OPS_COUNTERS, member=f"q2c:completed:{entity.legal_entity}", score=1.0)
            completed = self.enter(run, "completed", actor, "booking committed to ERP and planning")
            return Step(completed, (done, *_timing(completed, opportunity, entity.legal_entity)))
        raise AssertionError(f"no step from state {run.state}")

    async def _validate(
        self, run: QuoteToCashRun, source: RunSource, mapping: MappingSet, rules: RuleSet, actor: str
    ) -> Step:
        opportunity = source.opportunity
        account = None
        if rules.enabled("tax_jurisdiction_present"):
            account = _carried(run, source)
            if account is None and self.accounts is not None and run.resumed_at is None:
                account = await self.accounts.get(opportunity.account_id)
            if account is None:
                key = commands.step_key(opportunity.id, "read-account")
                account, _ = await with_retries(
                    lambda: self.crm.get_account(opportunity.account_id), self.retry, what=key
                )
                if account is not None and self.accounts is not None:
                    await self.accounts.remember(account)
            if account is None:
                raise ValidationFailed(
                    f"CRM has no account {opportunity.account_id} for opportunity {opportunity.id}",
                    errors=[ProblemFieldError(location="$.account_id", message="CRM account not found")],
                )
        if run.overrides is not None:
            account = overridden_account(account, run)
        outcome = validate_opportunity(opportunity, mapping, rules, account)
        if outcome.entity is None or not outcome.ok:
            raise ValidationFailed(
                f"{len(outcome.violations)} control(s) refused opportunity {opportunity.id}: "
                f"{outcome.violations[0].message}",
                errors=outcome.violations,
            )
        entity = outcome.entity
        tax_codes = await self.tax_codes(run, opportunity, entity, mapping, account)
        detail = (
            f"approved; region {opportunity.region} -> {entity.legal_entity} (subsidiary {entity.subsidiary_id}); "
            f"{len(opportunity.lines)} line(s) mapped; amount {opportunity.amount.amount} "
            f"{opportunity.amount.currency} matches the lines"
        )
        if tax_codes is not None:
            detail += "; tax codes " + ", ".join(f"{c.code} ({c.id})" for c in tax_codes)
        detail += f"; controls {mapping.version} + {rules.version}"
        nxt = self.enter(
            run,
            "validated",
            actor,
            detail,
            legal_entity=entity.legal_entity,
            mapping_version=mapping.version,
            rule_set_version=rules.version,
            tax_code_ids=[c.id for c in tax_codes] if tax_codes is not None else None,
        )
        return Step(nxt)

    async def tax_codes(
        self,
        run: QuoteToCashRun,
        opportunity: Opportunity,
        entity: EntityMapping,
        mapping: MappingSet,
        account: Account | None,
    ) -> list[ReferenceTaxCode] | None:
        """Each line's ERP tax code (workflows/taxes.py); None without a jurisdiction to resolve from."""
        jurisdiction = account.tax_jurisdiction if account is not None else None
        if self.taxes is None or not jurisdiction:
            return None
        taxes, fresh = self.taxes, run.resumed_at is not None
        key = commands.step_key(opportunity.id, "read-tax-codes")
        reference, _ = await with_retries(lambda: taxes.reference(fresh=fresh), self.retry, what=key)
        return line_tax_codes(reference, opportunity, entity, mapping, jurisdiction)

    async def _resolve_customer(
        self, run: QuoteToCashRun, source: RunSource, entity: EntityMapping, actor: str
    ) -> Step:
        opportunity = source.opportunity
        key = commands.step_key(opportunity.id, "resolve-customer")
        external_id = commands.customer_external_id(opportunity)
        # The account validation used (carried by the approval, or its latest snapshot): its
        # CRM-owned fields go onto the customer now, and are recorded as sent, so the account change
        # that follows (the ERP-owned fields arriving in the CRM) is the echo of this write.
        account = _carried(run, source)
        if account is None and self.accounts is not None:
            account = await self.accounts.get(opportunity.account_id)
        crm_fields = from_account(account) if account is not None else None
        command = commands.customer_upsert(opportunity, entity, crm_fields.changes if crm_fields else None)
        known = None
        if self.customers is not None and run.resumed_at is None:
            known = await self.customers.get(external_id, command)
        if known is not None:
            detail = f"ERP customer {known} ({external_id}) resolved (upserted with these values lately)"
            return Step(self.enter(run, "customer_resolved", actor, detail, key=key, erp_customer_id=known))
        customer, tries = await with_retries(
            lambda: self.erp.upsert_customer(external_id, command, idempotency_key=key), self.retry, what=key
        )
        # The CRM fields are a new customer's initial values (an existing one keeps its own): they
        # count as sent only where the customer now holds them.
        sent = crm_fields if crm_fields is not None and _holds(customer, crm_fields) else None
        memory = self.customers or self.sent  # both on the service's Redis: one round trip
        if memory is not None:
            pipe = memory.redis.pipeline(transaction=False)
            if self.customers is not None:
                self.customers.queue_remember(pipe, external_id, command, customer.id)
            if sent is not None and self.sent is not None:
                self.sent.queue_remember(pipe, sent)
            await pipe.execute()  # an empty pipeline sends nothing
        detail = f"ERP customer {customer.id} ({external_id}) resolved{_tries(tries)}"
        return Step(self.enter(run, "customer_resolved", actor, detail, key=key, erp_customer_id=customer.id))

    async def _create_order(
        self, run: QuoteToCashRun, opportunity: Opportunity, entity: EntityMapping, mapping: MappingSet, actor: str
    ) -> Step:
        key = commands.step_key(opportunity.id, "create-order")
        external_id = commands.order_external_id(opportunity)
        await self._require_open(run, opportunity, entity)
        order, tries = await self.upsert_order(
            run, opportunity, entity, mapping, external_id=external_id, key=key, tax_code_ids=run.tax_code_ids
        )
        detail = f"ERP sales order {order.id} ({external_id}) {order.status}{_tries(tries)}"
        nxt = self.enter(
            run, "order_created", actor, detail, key=key, erp_order_id=order.id, erp_order_external_id=external_id
        )
        waiting = Effect(kind="zadd", key=WAITING_INDEX, member=run.id, score=self.clock().timestamp())
        # Ops counters: a repeat of this step (replay) upserts the same order; count it apart.
        repost = any(g.gate == "order_created" for g in run.gates)
        field = (
            f"q2c:order_reposts:{entity.legal_entity}"
            if repost
            else f"q2c:orders_created:{entity.legal_entity}:{run.origin}"
        )
        count = Effect(kind="hincrby", key=OPS_COUNTERS, member=field, score=1.0)
        effects: tuple[Effect, ...] = (waiting, count)
        if not repost:
            touchless = run.origin == "event" and not any(is_manual(g.actor) for g in run.gates)
            effects += (daily("posted:auto" if touchless else "posted:manual", entity.legal_entity, nxt.updated_at),)
        return Step(nxt, effects, booked=order if order.booked else None)

    async def upsert_order(
        self,
        run: QuoteToCashRun,
        opportunity: Opportunity,
        entity: EntityMapping,
        mapping: MappingSet,
        *,
        external_id: str,
        key: str,
        tax_code_ids: list[str] | None,
    ) -> tuple[SalesOrder, int]:
        """Create or update the deal's ERP order under `external_id` (idempotent on `key`), with retries;
        the order and how many tries it took. Used by the create-order step and by amendments."""
        command = commands.sales_order_upsert(
            opportunity,
            entity,
            mapping,
            run.erp_customer_id or "",
            posting_period=run.posting_period,
            tax_code_ids=tax_code_ids,
        )
        return await with_retries(
            lambda: self.erp.upsert_sales_order(external_id, command, idempotency_key=key), self.retry, what=key
        )

    async def _require_open(self, run: QuoteToCashRun, opportunity: Opportunity, entity: EntityMapping) -> None:
        """`period_closed` (accounting) when the order's period is closed in the ERP: an order dated
        into a closed period would be booked and committed to a plan whose actuals are loaded."""
        if self.periods is None:
            return
        period = run.posting_period or opportunity.close_date.strftime("%Y-%m")
        if await self.periods.status(entity.legal_entity, period) != "closed":
            return
        raise ValidationFailed(
            f"The ERP accounting period {period} of {entity.legal_entity} is closed; retry with "
            "`post_into_open_period` to post the order into the next open period, or resolve the exception.",
            slug="period-closed",
            title="Accounting period closed",
            errors=[ProblemFieldError(location="$.close_date", message=f"period {period} is closed in the ERP")],
        )

    async def open_period_after(self, legal_entity: str, period: str) -> str | None:
        """The next open ERP period after `period` of the entity (None without a calendar or period)."""
        return await self.periods.open_after(legal_entity, period) if self.periods is not None else None

    async def _commit_forecast(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        entity: EntityMapping,
        mapping: MappingSet,
        actor: str,
        *,
        forecast: ForecastSignal | None,
    ) -> Step:
        opportunity = source.opportunity
        key = commands.step_key(opportunity.id, "commit-forecast")
        legal_entity = run.legal_entity or entity.legal_entity
        load = commands.committed_bookings(
            opportunity, legal_entity, run.erp_order_id or "", posting_period=run.posting_period
        )
        if forecast is not None:
            # One import carried many runs: this run passes or fails on its own rows only.
            rejected = list(forecast.rejected)
            result = msgspec.structs.replace(
                forecast.result,
                successful=not rejected,
                rows_loaded=forecast.rows - len(rejected),
                rows_rejected=len(rejected),
                rejected=rejected,
            )
            tries = 1
            key = forecast.batch or key
        else:
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
        event = commands.booking_committed(nxt, opportunity, load, mapping, traceparent=source.traceparent)
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
        unindex: tuple[Effect, ...] = (Effect(kind="zrem", key=WAITING_INDEX, member=run.id),)
        if self.batch_forecast:
            pending = Effect(kind="zadd", key=FORECAST_PENDING, member=run.id, score=self.clock().timestamp())
            unindex = (*unindex, pending)
        if booked is not None:
            detail = f"ERP sales order {booked.id} was booked on creation ({booked.status})"
            return Step(self.enter(run, "order_booked", actor, detail), unindex)
        if booking is not None and (
            (booking.order_id is not None and booking.order_id == run.erp_order_id)
            or (booking.external_id is not None and booking.external_id == run.erp_order_external_id)
        ):
            detail = f"ERP booked sales order {run.erp_order_id} ({booking.source})"
            return Step(self.enter(run, "order_booked", actor, detail), unindex)
        if check_erp and run.erp_order_id:
            try:
                order = await self.erp.get_sales_order(run.erp_order_id)
            except DownstreamError as exc:
                log.warning("booking check failed", extra={"run_id": run.id, "error": str(exc)})
                return None
            if order.booked:
                detail = f"ERP sales order {order.id} found booked ({order.status}) by the booking sweep"
                return Step(self.enter(run, "order_booked", actor, detail), unindex)
        return None

    def fail(
        self, run: QuoteToCashRun, exc: ProcessError, actor: str, state: RunState = "failed", **changes: Any
    ) -> Step:
        error = RunError(
            type=problem_type(exc.problem_slug),
            title=exc.problem_title,
            status=exc.status,
            detail=exc.detail,
            gate=NEXT_GATE.get(run.state),
            service=exc.service if isinstance(exc, DownstreamError) else None,
            errors=exc.errors,
        )
        nxt = self.enter(run, state, actor, f"{exc.problem_title}: {exc.detail}", error=error, **changes)
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


def _timing(run: QuoteToCashRun, opportunity: Opportunity, legal_entity: str) -> tuple[Effect, ...]:
    """Booking-to-forecast lag, and the amount committed to planning for another month than the ERP
    booked it in (the run's close-date month vs the month its booking was seen), of a completed run."""
    booked = next((g.at for g in reversed(run.gates) if g.gate == "order_booked"), None)
    committed = next((g.at for g in reversed(run.gates) if g.gate == "forecast_committed"), None)
    if booked is None or committed is None:
        return ()
    at = run.updated_at
    effects = [daily(f"lag:{lag_bucket((committed - booked).total_seconds())}", legal_entity, at)]
    if opportunity.close_date.strftime("%Y-%m") != booked.astimezone(UTC).strftime("%Y-%m"):
        amount = scaled_amount(opportunity.amount.amount)
        effects.append(daily(f"timing:{opportunity.amount.currency}", legal_entity, at, amount))
        effects.append(daily("timing_runs", legal_entity, at))
    return tuple(effects)


def _carried(run: QuoteToCashRun, source: RunSource) -> Account | None:
    """The deal's account the approval carried (`QuoteToCash.create` keeps only the deal's own), for
    a first attempt: a retry reads the CRM."""
    return source.account if run.resumed_at is None else None


def _holds(customer: Customer, request: SyncRequest) -> bool:
    """Whether the ERP customer holds every CRM-owned value of `request`."""
    changes = request.changes
    return all(getattr(customer, field, None) == getattr(changes, field) for field in changes.fields_set())


def _tries(attempts: int) -> str:
    return f" after {attempts} attempts" if attempts > 1 else ""
