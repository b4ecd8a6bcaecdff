"""The workflows beside quote-to-cash, wired to their ports: what the event handlers and routes call."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts import PERIOD_CLOSED, AccountingPeriod, CloudEvent
from process_apis.controls import ControlSource
from process_apis.errors import RunNotFound, RunNotResumable, UnknownLegalEntity
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.flows.actuals import ActualsToPlan, actuals_run_id
from process_apis.flows.breaks import ledger_id, parse_ledger_id
from process_apis.flows.customer_sync import CustomerSync, sync_request
from process_apis.flows.model import FlowRun
from process_apis.flows.reconciliation import Reconciler, ReconciliationReport, StartReconciliation
from process_apis.flows.runner import FlowRunner
from process_apis.versions import PublishedVersions
from process_apis.workflows.retry import RetryPolicy

__all__ = ["Flows"]

log = logging.getLogger("process_apis.flows")


class Flows:
    """Customer master sync, actuals to plan and reconciliation over one runner."""

    def __init__(
        self,
        *,
        redis: Any,
        crm: Any,  # CrmMasterPort + CrmWonPort (the HTTP adapter, or a test fake)
        erp: Any,  # ErpMasterPort + ErpLedgerPort + ErpOrdersPort
        planning: Any,  # PlanningActualsPort + PlanningBookingsPort
        controls: ControlSource,
        policy: ExceptionPolicy,
        retry: RetryPolicy,
        clock: Callable[[], datetime],
        lock_wait: float = 5.0,
        versions: PublishedVersions | None = None,
    ) -> None:
        """`lock_wait`: how long a reconciliation waits for another of its entity and period;
        `versions` records the planning version state reconciliations read."""
        self.controls = controls
        self.runner = FlowRunner(redis, policy=policy, clock=clock)
        self.customer_sync = CustomerSync(crm=crm, erp=erp, redis=redis)
        self.actuals = ActualsToPlan(erp=erp, planning=planning, retry=retry)
        self.reconciler = Reconciler(
            redis=redis,
            crm=crm,
            erp=erp,
            planning=planning,
            controls=controls,
            policy=policy,
            clock=clock,
            lock_wait=lock_wait,
            versions=versions,
        )

    async def get(self, run_id: str) -> FlowRun | None:
        return await self.runner.get(run_id)

    async def require_entity(self, legal_entity: str) -> None:
        """UnknownLegalEntity (422) unless the active mapping set maps some region to `legal_entity`:
        a client's typo must not reach the platforms (they would answer 404, seen here as a 502)."""
        mapping, _ = await self.controls.current()
        known = sorted({e.legal_entity for e in mapping.regions.values()})
        if legal_entity not in known:
            raise UnknownLegalEntity(
                f"Legal entity {legal_entity!r} is not in mapping set {mapping.version}; known: {', '.join(known)}."
            )

    async def on_master_change(self, event: CloudEvent, *, actor: str) -> FlowRun | None:
        """`crm.account.changed.v1` / `erp.customer.changed.v1`: sync the owned fields across."""
        try:
            request = sync_request(event)
        except msgspec.ValidationError as exc:
            log.warning("undecodable customer-master event", extra={"event_id": event.id, "error": str(exc)})
            return None
        if request is None:
            return None
        return await self.runner.execute(
            self.customer_sync,
            f"cms-{event.id}",
            subject=f"{request.origin}->{request.target}",
            actor=actor,
            correlation_id=event.correlationid,
            scratch={"request": request},
        )

    async def on_period_closed(self, event: CloudEvent, *, actor: str) -> FlowRun | None:
        """`erp.period.closed.v1`: load the period's actuals; a run that failed because the period
        was still open is retried (its `period_open` exception settles when it passes)."""
        if event.type != PERIOD_CLOSED:
            return None
        try:
            period = msgspec.convert(event.data, type=AccountingPeriod, strict=False)
        except msgspec.ValidationError as exc:
            log.warning("undecodable period event", extra={"event_id": event.id, "error": str(exc)})
            return None
        return await self.period_closed(
            period.legal_entity, period.period, actor=actor, correlation_id=event.correlationid
        )

    async def period_closed(self, legal_entity: str, period: str, *, actor: str, correlation_id: str | None) -> FlowRun:
        """The ERP closed `period` of `legal_entity` (its change feed, or the scheduler's check):
        load its actuals; a run that failed because the period was open is retried."""
        run_id = actuals_run_id(legal_entity, period)
        earlier = await self.runner.get(run_id)
        if earlier is not None and earlier.status == "failed" and _refused_open(earlier):
            # It failed because the period was open; the ERP has closed it now: retry it.
            return await self.retry(run_id, actor=actor, note=f"the ERP closed {period} for {legal_entity}")
        return await self.start_actuals(legal_entity, period, actor=actor, correlation_id=correlation_id)

    async def start_actuals(self, legal_entity: str, period: str, *, actor: str, correlation_id: str | None) -> FlowRun:
        return await self.runner.execute(
            self.actuals,
            actuals_run_id(legal_entity, period),
            subject=f"{legal_entity}/{period}",
            actor=actor,
            correlation_id=correlation_id,
            legal_entity=legal_entity,
        )

    async def retry(self, run_id: str, *, actor: str, note: str | None) -> FlowRun:
        """Retry a failed run from its last good gate.

        Actuals to plan: the same entity and period (its subject) again. Customer-master sync: the
        source record is read again and its owned fields synced as they are now (the fix may have
        been made there). Reconciliation breaks are rechecked by `recheck`. Raises
        RunNotFound, RunNotResumable (not failed, source gone) or RunBusy.
        """
        run = await self.runner.get(run_id)
        if run is None:
            raise RunNotFound(f"There is no workflow run {run_id!r}.")
        if run.workflow == self.customer_sync.workflow:
            request = await self.customer_sync.current(run.subject)
            if request is None:
                raise RunNotResumable(
                    f"The source record of {run.subject} no longer exists (or is no longer linked); "
                    "resolve the exception instead."
                )
            await self.runner.resume(run_id, actor=actor, note=note)
            return await self.runner.execute(
                self.customer_sync,
                run_id,
                subject=run.subject,
                actor=actor,
                correlation_id=run.correlation_id,
                scratch={"request": request},
            )
        if run.workflow != self.actuals.workflow:
            raise RunNotResumable(f"{run.workflow} runs are not retried; resolve the exception once fixed.")
        await self.runner.resume(run_id, actor=actor, note=note)
        entity, _, period = run.subject.partition("/")
        return await self.start_actuals(entity, period, actor=actor, correlation_id=run.correlation_id)

    async def reconcile(
        self, command: StartReconciliation, *, actor: str, correlation_id: str | None
    ) -> ReconciliationReport:
        return await self.reconciler.run(command, actor=actor, correlation_id=correlation_id)

    async def recheck(
        self, run_id: str, exception_id: str, *, actor: str, note: str | None, correlation_id: str | None
    ) -> ReconciliationReport:
        """Retrying a break exception reruns its entity-period's reconciliation (with the tolerance of
        the last run): the exception is closed if the break is gone, reopened if not.

        RunNotResumable for an exception of a reconciliation from before breaks had fingerprints.
        """
        parsed = parse_ledger_id(run_id)
        if parsed is None or ledger_id(*parsed) != run_id:
            raise RunNotResumable(
                f"Exception {exception_id} predates rerunnable reconciliations; run POST /v1/reconciliations "
                "again and resolve this one."
            )
        entity, period = parsed
        ledger = await self.reconciler.ledger(entity, period)
        tolerance = ledger.tolerance if ledger.tolerance is not None else Decimal("0")
        command = StartReconciliation(legal_entity=entity, period=period, tolerance=tolerance)
        return await self.reconciler.run(
            command, actor=actor, correlation_id=correlation_id, retrying=exception_id, retry_note=note
        )

    async def report(self, report_id: str) -> ReconciliationReport | None:
        return await self.reconciler.get(report_id)


def _refused_open(run: FlowRun) -> bool:
    """Whether the run failed at `period_verified` because the period was open then."""
    return run.error is not None and run.error.type.endswith("/period-open")
