"""`/v1/reconciliations`, `/v1/actuals-to-plan/runs` and `/v1/workflow-runs/{id}`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from process_apis import audit
from process_apis.entities import EntityScope, caller_actor, entity_scope
from process_apis.errors import RunNotFound
from process_apis.flows.model import FlowRun
from process_apis.flows.reconciliation import ReconciliationReport, StartReconciliation
from process_apis.flows.service import Flows
from servicekit import StrictBody, current_correlation_id, require_scopes
from servicekit.errors import NotFound
from servicekit.openapi import financially_material, problem_spec

__all__ = ["StartActualsToPlan", "flows_router"]


class StartActualsToPlan(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Load one closed ERP period's actuals of an entity into the planning Actuals version."""

    legal_entity: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]
    period: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])]


_NOT_ALLOWED = problem_spec(
    "The token lacks the scope, or the caller is not cleared for the legal entity (entity-not-allowed)"
)


class ReportNotFound(NotFound):
    slug, title = "reconciliation-not-found", "Reconciliation not found"


def _flows(state: State) -> Flows:
    flows: Flows = state.flows
    return flows


@post(
    "/reconciliations",
    operation_id="startReconciliation",
    summary="Reconcile CRM closed-won, ERP booked orders and planning committed bookings",
    dto=StrictBody[StartReconciliation],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("recon:write")],
    opt=financially_material(),
    responses={
        403: _NOT_ALLOWED,
        404: problem_spec("The ERP or planning platform has no such period for the entity"),
        409: problem_spec("A reconciliation of the same entity and period is still running (reconciliation-busy)"),
        422: problem_spec("Legal entity not in the active mapping set (unknown-legal-entity)"),
        502: problem_spec("A system API refused or answered outside its contract"),
        503: problem_spec("A system API is unreachable"),
    },
)
async def start_reconciliation(
    data: JSONBody[StartReconciliation],
    request: Request[Any, Any, Any],
    flows: NamedDependency[Flows],
    entities: NamedDependency[EntityScope],
) -> Response[ReconciliationReport]:
    """Compare the three sources for the entity and period; each break beyond tolerance opens an exception.

    The caller must be cleared for the entity (403 `entity-not-allowed`)."""
    entities.require(data.legal_entity)
    await flows.require_entity(data.legal_entity)
    report = await flows.reconcile(data, actor=caller_actor(request), correlation_id=current_correlation_id())
    await audit.record(request, "reconciliation.run", resource=report.id, legal_entity=data.legal_entity)
    return Response(report, status_code=201, headers={"Location": f"/v1/reconciliations/{report.id}"})


@get(
    "/reconciliations/{report_id:str}",
    operation_id="getReconciliation",
    summary="Read a reconciliation report",
    guards=[require_scopes("recon:read")],
    responses={
        404: problem_spec(
            "No such reconciliation, or one of a legal entity the caller is not cleared for (reconciliation-not-found)"
        )
    },
)
async def get_reconciliation(
    report_id: FromPath[str], flows: NamedDependency[Flows], entities: NamedDependency[EntityScope]
) -> ReconciliationReport:
    """The stored report: source totals, every break and the exception it opened."""
    report = await flows.report(report_id)
    if report is None or not await entities.admits(report.legal_entity):
        raise ReportNotFound(f"There is no reconciliation {report_id!r}.")
    return report


@post(
    "/actuals-to-plan/runs",
    operation_id="startActualsToPlan",
    summary="Load a closed period's actuals into planning",
    dto=StrictBody[StartActualsToPlan],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("sync:write")],
    opt=financially_material(),
    responses={
        403: _NOT_ALLOWED,
        404: problem_spec("The ERP has no such accounting period for the entity"),
        422: problem_spec("Legal entity not in the active mapping set (unknown-legal-entity)"),
        502: problem_spec("A system API refused"),
        503: problem_spec("A system API is unreachable"),
    },
)
async def start_actuals(
    data: JSONBody[StartActualsToPlan],
    request: Request[Any, Any, Any],
    flows: NamedDependency[Flows],
    entities: NamedDependency[EntityScope],
) -> FlowRun:
    """Run (or find) `a2p-<entity>-<period>`: an open period fails it with a `period_open` exception.

    The caller must be cleared for the entity (403 `entity-not-allowed`)."""
    entities.require(data.legal_entity)
    await flows.require_entity(data.legal_entity)
    run = await flows.start_actuals(
        data.legal_entity, data.period, actor=caller_actor(request), correlation_id=current_correlation_id()
    )
    await audit.record(
        request, "actuals.run", resource=run.id, legal_entity=data.legal_entity, detail={"period": data.period}
    )
    return run


@get(
    "/workflow-runs/{run_id:str}",
    operation_id="getWorkflowRun",
    summary="Read a customer-master-sync or actuals-to-plan run",
    guards=[require_scopes("ops:read")],
    responses={
        404: problem_spec("No such run, or one of a legal entity the caller is not cleared for (run-not-found)")
    },
)
async def get_workflow_run(
    run_id: FromPath[str], flows: NamedDependency[Flows], entities: NamedDependency[EntityScope]
) -> FlowRun:
    """The run with its gates, result and, if it failed, the error and exception id.

    A run of no legal entity (customer master sync) is shown to callers cleared for every entity."""
    run = await flows.get(run_id)
    if run is None or not await entities.admits(run.legal_entity):
        raise RunNotFound(f"There is no workflow run {run_id!r}.")
    return run


flows_router = Router(
    path="/v1",
    route_handlers=[start_reconciliation, get_reconciliation, start_actuals, get_workflow_run],
    dependencies={"flows": Provide(_flows, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["workflows"],
)
