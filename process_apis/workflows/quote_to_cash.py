"""The quote-to-cash state machine.

    received -> validated -> customer_resolved -> order_created -> order_booked
             -> forecast_committed -> completed
    any open state -> failed (parked on an open exception) | dead_lettered (transient, retries spent)
    failed | dead_lettered -> the last gate passed (retry of the exception, or replay of the run)

Each transition is a named gate (the state entered) recorded with time, actor, correlation id,
detail and the step's idempotency key `q2c:<opportunity id>:<step>`; the run records the mapping
set and rule set versions it was validated under. A worker advances a run as far as it can while
holding the run's lease and stops at `order_created` until the ERP books the order. A failed gate
commits the parked run and its exception in one script (workflows/parking.py); a retry continues
from the last good gate under the controls active then, so fixing a mapping and retrying completes
the run (a retry of validation also re-reads the opportunity, so data fixed in CRM counts); the
first gate it passes settles its exception (`auto_resolved`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from contracts import Account, Opportunity, SalesOrder
from process_apis.controls import ControlSource, MappingSet, RuleSet, StaticControls
from process_apis.errors import OpportunityNotApproved, OpportunityNotFound, ProcessError
from process_apis.exceptions.policy import ExceptionPolicy, load_policy
from process_apis.exceptions.store import ExceptionStore
from process_apis.flows.customer_sync import SentFields
from process_apis.ports import CrmPort, ErpPort, PlanningPort
from process_apis.schemas import PARKED_STATES, TERMINAL_STATES, Gate, QuoteToCashRun, status_of
from process_apis.workflows import commands
from process_apis.workflows.accounts import AccountSnapshots
from process_apis.workflows.amendments import Amendment, Amendments
from process_apis.workflows.customers import ResolvedCustomers
from process_apis.workflows.metrics import daily
from process_apis.workflows.observe import record_gate, record_outcome, run_attributes
from process_apis.workflows.outage import OutagePolicy, claim_due, left_outage, wait_out
from process_apis.workflows.parking import counter
from process_apis.workflows.periods import PeriodCalendar
from process_apis.workflows.recovery import ExceptionChange, Recovery
from process_apis.workflows.retry import RetryPolicy
from process_apis.workflows.steps import (
    BookingSignal,
    ForecastSignal,
    QuoteToCashSteps,
    Step,
)
from process_apis.workflows.store import Effect, Lease, RunBusy, RunSource, RunStore, run_id_for
from process_apis.workflows.taxes import TaxCodes
from process_apis.workflows.validation import is_approved, not_approved_detail
from servicekit import correlation_id, outgoing_headers

__all__ = ["Admission", "Amendment", "BookingSignal", "ExceptionChange", "FailureHook", "QuoteToCash"]

log = logging.getLogger("process_apis.quote_to_cash")
tracer = trace.get_tracer("process_apis")

FailureHook = Callable[[QuoteToCashRun], Awaitable[None]]
#: Whether the caller may see and change a run of this legal entity (None: the entity is not known).
Admission = Callable[[str | None], Awaitable[bool]]
_encoder = msgspec.json.Encoder()
#: States a run leaves only when a worker takes its work item (no event or sweep moves it on).
_WORK_DRIVEN: frozenset[str] = frozenset({"received", "validated", "customer_resolved"})


def _now() -> datetime:
    return datetime.now(UTC)


class QuoteToCash(Recovery, Amendments):
    """Starts runs, advances them through their gates, parks, retries and replays them."""

    def __init__(
        self,
        *,
        store: RunStore,
        crm: CrmPort,
        erp: ErpPort,
        planning: PlanningPort,
        controls: ControlSource | None = None,
        mapping: MappingSet | None = None,
        policy: ExceptionPolicy | None = None,
        retry: RetryPolicy | None = None,
        lock_wait: float = 0.0,
        on_failure: FailureHook | None = None,
        clock: Callable[[], datetime] = _now,
        batch_forecast: bool = False,
        accounts: AccountSnapshots | None = None,
        customers: ResolvedCustomers | None = None,
        sent: SentFields | None = None,
        outage: OutagePolicy | None = None,
        periods: PeriodCalendar | None = None,
        taxes: TaxCodes | None = None,
    ) -> None:
        """`batch_forecast`: runs wait at `order_booked` for the forecast batcher's planning import.
        `accounts`: CRM accounts as last described (workflows/accounts.py), read before the CRM.
        `customers`: ERP customers resolved lately (workflows/customers.py), not upserted again.
        `sent`: CRM fields a new customer is created with are recorded there as sent (flows/customer_sync.py).
        `outage`: how long runs wait at their gate for an unavailable system (workflows/outage.py).
        `periods`: the ERP's accounting calendar (workflows/periods.py): no order into a closed period.
        `taxes`: the ERP's tax codes (workflows/taxes.py): each order line carries its resolved code."""
        if controls is None:
            if mapping is None:
                raise ValueError("pass controls (versioned) or a fixed mapping set")
            controls = StaticControls(mapping)
        self.store = store
        self.exceptions = ExceptionStore(store.redis)
        self.crm = crm
        self.controls = controls
        self.policy = policy or load_policy()
        self.retry = retry or RetryPolicy()
        self.lock_wait = lock_wait
        self.on_failure = on_failure
        self.planning = planning
        self.accounts = accounts
        self.customers = customers
        self.outage = outage or OutagePolicy()
        self.periods = periods
        self.steps = QuoteToCashSteps(
            crm=crm,
            erp=erp,
            planning=planning,
            retry=self.retry,
            clock=clock,
            batch_forecast=batch_forecast,
            accounts=accounts,
            customers=customers,
            sent=sent,
            periods=periods,
            taxes=taxes,
        )
        self.clock = clock

    async def start(
        self,
        opportunity_id: str,
        *,
        actor: str,
        correlation_id: str | None = None,
        traceparent: str | None = None,
        admit: Admission | None = None,
    ) -> tuple[QuoteToCashRun, bool]:
        """The run of this opportunity, created (True) or found (False); it is queued for a worker.

        Raises OpportunityNotFound, OpportunityNotApproved or DownstreamError before writing anything.
        `admit`: the caller's entity check; an opportunity (or run) of an entity it refuses is
        OpportunityNotFound, before anything else is said about it.
        """
        existing = await self.store.get(run_id_for(opportunity_id))
        if existing is not None:
            if admit is not None and not await admit(existing.legal_entity):
                raise OpportunityNotFound(f"CRM has no opportunity {opportunity_id!r}.")
            await self._queue_if_stalled(existing)
            return existing, False
        opportunity = await self.crm.get_opportunity(opportunity_id)
        controls = await self.controls.current()
        if admit is not None:
            entity = controls[0].entity_for(opportunity.region)
            if not await admit(entity.legal_entity if entity is not None else None):
                raise OpportunityNotFound(f"CRM has no opportunity {opportunity_id!r}.")
        if not is_approved(opportunity):
            raise OpportunityNotApproved(
                not_approved_detail(opportunity),
                extensions={"stage": opportunity.stage, "approval_status": opportunity.approval_status},
            )
        return await self.create(
            opportunity, actor=actor, correlation_id=correlation_id, traceparent=traceparent, controls=controls
        )

    async def _queue_if_stalled(self, run: QuoteToCashRun) -> None:
        """Queue a run that waits for a worker but has not moved for longer than a lease lives.

        Such a run lost its work item: a Redis primary that failed over before replicating it takes
        acknowledged writes with it. Starting the deal again (the runbook after a failover) moves it
        on. A spare work item is harmless: the worker finds the run moved on, or busy.
        """
        if run.state not in _WORK_DRIVEN:
            return
        if (self.clock() - run.updated_at).total_seconds() * 1000 > self.store.lock_ttl_ms:
            await self.store.enqueue([commands.work_item(run)])

    async def create(
        self,
        opportunity: Opportunity,
        *,
        actor: str,
        origin: Literal["api", "event"] = "api",
        correlation_id: str | None = None,
        traceparent: str | None = None,
        account: Account | None = None,
        controls: tuple[MappingSet, RuleSet] | None = None,
    ) -> tuple[QuoteToCashRun, bool]:
        """Create the run of an approved opportunity snapshot (from an event), or find it (False).

        `account`: the opportunity's account read with it (the CRM feed's approval event carries it),
        kept in the run's source for its first validation and customer. `controls`: the active
        mapping and rule set when the caller has just read them.
        """
        run_id = run_id_for(opportunity.id)
        # The run's trace: the caller's, else the one this call runs in (every later drive joins it).
        traceparent = traceparent or outgoing_headers().get("traceparent")
        mapping, rules = controls or await self.controls.current()
        entity = mapping.entity_for(opportunity.region)
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
            mapping_version=mapping.version,
            rule_set_version=rules.version,
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
            gates=[gate],
            origin=origin,
            # Known from the start, so the run is its entity's from the first read (validation
            # sets it again under the mapping it validates with).
            legal_entity=entity.legal_entity if entity is not None else None,
            trace_id=_trace_id_of(traceparent),
        )
        if account is not None and account.id != opportunity.account_id:
            account = None  # not the deal's account: validation reads the right one
        source = RunSource(opportunity=opportunity, traceparent=traceparent, account=account)
        effects = [
            commands.work_item(run, traceparent=traceparent),
            counter(f"runs:quote_to_cash:started:{origin}"),
            daily("runs:quote_to_cash", run.legal_entity, now),
        ]
        return await self.store.create(run, source, effects)

    async def advance(
        self,
        run_id: str,
        *,
        actor: str,
        booking: BookingSignal | None = None,
        check_erp: bool = False,
        forecast: ForecastSignal | None = None,
        wait: float | None = None,
    ) -> QuoteToCashRun | None:
        """Move the run as far as it goes now; None for an unknown run.

        Raises RunBusy when another worker holds the run for longer than `wait` (default `lock_wait`) s.
        """
        version_key = self.controls.version_key
        also = (version_key,) if version_key is not None else ()
        wait = self.lock_wait if wait is None else wait
        async with self.store.lease(run_id, wait=wait, read=True, also=also) as lease:
            run = self.store.decode_run(lease.run)
            if run is None:
                return None
            if run.state not in TERMINAL_STATES:
                source = self.store.decode_source(lease.source)
                if source is None:
                    raise KeyError(f"run {run_id} has no source snapshot")
                run = await self._drive(
                    run, source, lease, actor=actor, booking=booking, check_erp=check_erp, forecast=forecast
                )
            return run

    async def recheck_outages(self, *, actor: str) -> int:
        """Drive the runs waiting for an unavailable system whose next check is due; how many."""

        async def drive(run_id: str) -> None:
            with contextlib.suppress(RunBusy):  # its holder drives it
                await self.advance(run_id, actor=actor, wait=0.0)

        now = self.clock().timestamp()
        return await claim_due(self.store.redis, now, self.outage.recheck_max, drive)

    async def _drive(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        lease: Lease,
        *,
        actor: str,
        booking: BookingSignal | None,
        check_erp: bool,
        forecast: ForecastSignal | None = None,
    ) -> QuoteToCashRun:
        cid_token = correlation_id.set(run.correlation_id)
        ctx_token = otel_context.attach(_run_context(source.traceparent))
        booked: SalesOrder | None = None
        try:
            with tracer.start_as_current_span("q2c.advance", attributes=run_attributes(run)) as drive_span:
                controls = self.controls
                mapping, rules = await (controls.current_at(lease.also[0]) if lease.also else controls.current())
                # Gates passed in one drive commit together: when the run parks, has to wait, or is
                # done. A crash before that commit redoes the drive's steps, which are idempotent
                # (deterministic keys downstream), so fewer commits lose nothing.
                passed: list[Gate] = []
                effects: list[Effect] = []
                writes: list[tuple[str, bytes]] = []
                while run.state not in TERMINAL_STATES:
                    step, step_writes, waiting = await self._next_step(
                        run,
                        source,
                        actor,
                        mapping=mapping,
                        rules=rules,
                        booking=booking,
                        check_erp=check_erp,
                        booked=booked,
                        forecast=forecast,
                    )
                    if waiting is not None:
                        # The system is down: the run stays at its gate and is checked again later.
                        run = waiting[0]
                        await self.store.commit(run, lease, [*effects, waiting[1]], writes, gates=passed)
                        passed, effects, writes = [], [], []
                        break
                    if step is None:
                        break
                    if step.run.waiting_for is not None:
                        cleared, dropped = left_outage(step.run)
                        step = Step(cleared, (*step.effects, *([dropped] if dropped else [])), step.booked)
                    if step.run.state not in PARKED_STATES and run.resumed_at is not None:
                        step, step_writes = await self._settle(step, actor)
                    booked = step.booked
                    run = step.run
                    passed.append(run.gates[-1])
                    effects.extend(step.effects)
                    writes.extend(step_writes)
                    log.info("run passed gate", extra={"run_id": run.id, "gate": run.state, "actor": actor})
                    if run.state in PARKED_STATES:
                        await self.store.commit(run, lease, effects, writes, gates=passed)
                        passed, effects, writes = [], [], []
                        if self.on_failure is not None:
                            await self.on_failure(run)
                if passed:
                    await self.store.commit(run, lease, effects, writes, gates=passed)
                drive_span.set_attributes(run_attributes(run))
                if passed and (run.state in TERMINAL_STATES or run.state in PARKED_STATES):
                    record_outcome(run, "parked" if run.state in PARKED_STATES else "completed")
        finally:
            otel_context.detach(ctx_token)
            correlation_id.reset(cid_token)
        return run

    async def _next_step(
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
        forecast: ForecastSignal | None,
    ) -> tuple[Step | None, list[tuple[str, bytes]], tuple[QuoteToCashRun, Effect] | None]:
        """The run's next gate, in a span of its own: the step (None: the run cannot move) and its
        writes, or, when a system it needs is down, the run marked waiting and its outage-index entry."""
        started = time.perf_counter()
        step_writes: list[tuple[str, bytes]] = []
        with tracer.start_as_current_span("q2c.gate", attributes=run_attributes(run)) as gate_span:
            try:
                step = await self.steps.next(
                    run,
                    source,
                    actor,
                    mapping=mapping,
                    rules=rules,
                    booking=booking,
                    check_erp=check_erp,
                    booked=booked,
                    forecast=forecast,
                )
            except ProcessError as exc:
                waiting = wait_out(run, exc, self.clock(), self.outage)
                if waiting is not None:
                    gate_span.set_attribute("fig.waiting_for", waiting[0].waiting_for or "-")
                    return None, [], waiting
                step, step_writes = await self._park(run, source, exc, actor, mapping)
            if step is not None:
                gate_span.update_name(f"q2c.gate {step.run.state}")
                gate_span.set_attributes(run_attributes(step.run))
        if step is not None:
            record_gate(step.run, time.perf_counter() - started)
        return step, step_writes, None


def _trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<flags>`); None if absent or malformed."""
    parts = (traceparent or "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        return parts[1]
    return None


def _run_context(traceparent: str | None) -> otel_context.Context:
    """The context a run's drive continues: the run's trace (from its source).

    When the current span already belongs to that trace (the CONSUMER span of the work item that
    carried it), the drive stays its child, so the trace shows the hop across the stream.
    """
    carried = propagate.extract({"traceparent": traceparent or ""})
    current = trace.get_current_span().get_span_context()
    wanted = trace.get_current_span(carried).get_span_context()
    if current.is_valid and (not wanted.is_valid or current.trace_id == wanted.trace_id):
        return otel_context.get_current()
    return carried
