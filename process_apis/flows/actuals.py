"""Actuals to plan: a closed ERP period's posted actuals move into the planning Actuals version.

    received -> period_verified -> actuals_loaded -> imported -> completed        (failed)

Triggered by `erp.period.closed.v1` (data: AccountingPeriod) or `POST /v1/actuals-to-plan/runs`.
The run id `a2p-<entity>-<period>` makes a second trigger for the same period find the same run.
`period_verified` asks the ERP for the entity's closed periods and refuses an open one (a
`period_open` exception owned by accounting): actuals of an open period never reach planning.
When the ERP then closes that period, its close event retries the failed run (flows/service.py).
A closed period with no posted activity completes with zero rows: nothing is sent to planning
(which refuses an import without lines), and nothing is an exception.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from process_apis.errors import ValidationFailed
from process_apis.flows.model import FlowRun
from process_apis.flows.runner import StepResult
from process_apis.ports import ErpLedgerPort, PlanningActualsPort
from process_apis.workflows.retry import RetryPolicy, with_retries

__all__ = ["ActualsToPlan", "actuals_run_id"]


def actuals_run_id(legal_entity: str, period: str) -> str:
    return f"a2p-{legal_entity}-{period}"


class ActualsToPlan:
    """The state machine of one entity-period's actuals load."""

    workflow: str = "actuals_to_plan"
    gates: tuple[str, ...] = ("period_verified", "actuals_loaded", "imported")

    def __init__(self, *, erp: ErpLedgerPort, planning: PlanningActualsPort, retry: RetryPolicy) -> None:
        self.erp = erp
        self.planning = planning
        self.retry = retry

    async def step(self, run: FlowRun, gate: str, scratch: dict[str, Any]) -> StepResult:
        entity, _, period = run.subject.partition("/")
        if gate == "period_verified":
            periods = await self.erp.periods(entity)
            found = next((p for p in periods if p.period == period), None)
            if found is None or found.status != "closed":
                state = found.status if found else "unknown"
                raise ValidationFailed(
                    f"period {period} of {entity} is {state} in the ERP; only closed periods move to planning",
                    slug="period-open",
                    title="Period not closed",
                )
            return StepResult(detail=f"ERP period {period} of {entity} is closed", legal_entity=entity)
        if gate == "actuals_loaded" or "batch" not in scratch:
            batch, _ = await with_retries(lambda: self.erp.actuals(entity, period), self.retry, what=run.id)
            scratch["batch"] = batch
            if gate == "actuals_loaded":
                total = sum((line.amount.amount for line in batch.lines), Decimal("0"))
                return StepResult(
                    detail=f"{len(batch.lines)} actuals line(s), {total} {batch.currency}",
                    result={"lines": len(batch.lines), "total": str(total), "currency": batch.currency},
                )
        if not scratch["batch"].lines:
            return StepResult(
                detail=f"no posted activity in {period} for {entity}: nothing to import",
                result={"rows_loaded": 0},
            )
        key = f"a2p:{entity}:{period}:import"
        result, _ = await with_retries(
            lambda: self.planning.load_actuals(scratch["batch"], idempotency_key=key), self.retry, what=key
        )
        if not result.successful or result.rows_rejected:
            raise ValidationFailed(
                f"planning rejected {result.rows_rejected} actuals row(s) (import {result.import_id})",
                slug="planning-rejected",
                title="Planning rejected the actuals",
            )
        return StepResult(
            detail=f"planning import {result.import_id} task {result.task_id}: {result.rows_loaded} row(s)",
            result={"import_id": result.import_id, "task_id": result.task_id, "rows_loaded": result.rows_loaded},
            idempotency_key=key,
        )
