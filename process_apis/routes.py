"""`/v1/quote-to-cash/runs`: start a run for an approved opportunity, read a run; `/v1/runs/{id}/replay`
and `/v1/runs/{id}/abandon`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from contracts import Problem
from contracts.headers import PROBLEM_JSON
from process_apis import audit
from process_apis.actors import actor_of
from process_apis.entities import EntityScope, entity_scope
from process_apis.errors import RunNotFound
from process_apis.schemas import QuoteToCashRun, StartQuoteToCash
from process_apis.workflows import QuoteToCash
from servicekit import StrictBody, claims_of, current_correlation_id, outgoing_headers, require_scopes
from servicekit.openapi import financially_material, response_links

__all__ = ["run_of", "v1_router"]

RUNS = "/quote-to-cash/runs"


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


def _engine(state: State) -> QuoteToCash:
    engine: QuoteToCash = state.q2c
    return engine


async def run_of(engine: QuoteToCash, run_id: str, entities: EntityScope) -> QuoteToCashRun:
    """The run if it is the caller's entity's; another entity's run is RunNotFound, like a missing one."""
    run = await engine.get(run_id)
    if not await entities.admits(run.legal_entity):
        raise RunNotFound(f"There is no quote-to-cash run {run_id!r}.")
    return run


@post(
    RUNS,
    operation_id="startQuoteToCashRun",
    summary="Start the quote-to-cash run of an approved opportunity",
    dto=StrictBody[StartQuoteToCash],
    return_dto=None,
    status_code=202,
    guards=[require_scopes("q2c:write")],
    opt=financially_material(**response_links({"getRun": ("getQuoteToCashRun", {"run_id": "$response.body#/id"})})),
    responses={
        200: ResponseSpec(
            data_container=QuoteToCashRun, description="The opportunity already has this run", generate_examples=False
        ),
        400: _problem("The body does not match the contract"),
        401: _problem("No or invalid bearer token"),
        403: _problem("The token lacks q2c:write"),
        404: _problem(
            "CRM has no such opportunity, or it belongs to a legal entity the caller is not cleared for "
            "(opportunity-not-found)"
        ),
        422: _problem("The opportunity is not won and approved (opportunity-not-approved)"),
        502: _problem("CRM refused or answered outside its contract"),
        503: _problem("CRM is unreachable"),
    },
)
async def start_run(
    data: JSONBody[StartQuoteToCash],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> Response[QuoteToCashRun]:
    """Return the opportunity's run if it has one (200); else fetch it from CRM and, if approved, create it (202).

    Nothing is written when CRM does not know the opportunity, it is not approved, or CRM is down.
    The run id is `q2c-<opportunity id>`; workers advance it, follow it at `Location`. An
    opportunity of a legal entity the caller is not cleared for is 404, as if CRM did not know it.
    """
    claims = claims_of(request.scope)
    run, created = await engine.start(
        data.opportunity_id,
        actor=actor_of(claims),
        correlation_id=current_correlation_id(),
        traceparent=outgoing_headers().get("traceparent"),
        admit=entities.admits,
    )
    if created:
        await audit.record(request, "run.started", resource=run.id, legal_entity=run.legal_entity)
    return Response(run, status_code=202 if created else 200, headers={"Location": f"/v1{RUNS}/{run.id}"})


@get(
    RUNS + "/{run_id:str}",
    operation_id="getQuoteToCashRun",
    summary="Read a quote-to-cash run",
    guards=[require_scopes("q2c:read")],
    responses={
        401: _problem("No or invalid bearer token"),
        403: _problem("The token lacks q2c:read"),
        404: _problem("No such run, or one of a legal entity the caller is not cleared for (run-not-found)"),
    },
)
async def get_run(
    run_id: FromPath[str], engine: NamedDependency[QuoteToCash], entities: NamedDependency[EntityScope]
) -> QuoteToCashRun:
    """The run with its gates, ERP and planning references and, if it failed, the error."""
    return await run_of(engine, run_id, entities)


class ReplayRun(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Why the run is replayed (kept in its exception's history)."""

    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


@post(
    "/runs/{run_id:str}/replay",
    operation_id="replayRun",
    summary="Continue a failed or dead-lettered run from its last good gate",
    dto=StrictBody[ReplayRun],
    return_dto=None,
    status_code=202,
    guards=[require_scopes("q2c:write")],
    opt=financially_material(),
    responses={
        401: _problem("No or invalid bearer token"),
        403: _problem("The token lacks q2c:write"),
        404: _problem("No such run, or one of a legal entity the caller is not cleared for (run-not-found)"),
        409: _problem("The run is not failed or dead-lettered (run-not-resumable)"),
    },
)
async def replay_run(
    run_id: FromPath[str],
    data: JSONBody[ReplayRun],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> QuoteToCashRun:
    """Re-enter the last gate the run passed and queue it; each step's idempotency key keeps it from posting twice."""
    await run_of(engine, run_id, entities)
    claims = claims_of(request.scope)
    actor = actor_of(claims)
    run = await engine.resume(run_id, actor=actor, via="replay", note=data.note or None)
    await audit.record(
        request, "run.replayed", resource=run.id, legal_entity=run.legal_entity, detail={"note": data.note}
    )
    return run


class AbandonRun(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Give up on the run for good; the note says why (kept in its history)."""

    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, examples=["Deal lost after approval"])]


@post(
    "/runs/{run_id:str}/abandon",
    operation_id="abandonRun",
    summary="Abandon a run and compensate the ERP order it created",
    dto=StrictBody[AbandonRun],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("q2c:write")],
    opt=financially_material(),
    responses={
        401: _problem("No or invalid bearer token"),
        403: _problem("The token lacks q2c:write"),
        404: _problem("No such run, or one of a legal entity the caller is not cleared for (run-not-found)"),
        409: _problem("The run is completed or was abandoned already (run-not-abandonable)"),
        503: _problem(
            "The ERP could not be asked to close the order; nothing changed, try again (downstream-unavailable)"
        ),
    },
)
async def abandon_run(
    run_id: FromPath[str],
    data: JSONBody[AbandonRun],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> QuoteToCashRun:
    """Stop the run for good and undo what it left in the ERP: an order not booked yet is closed (the
    compensating step is in the run's history and `compensation`); an order the ERP will not close
    (booked, fulfilled, billed) becomes a `manual_reversal_required` exception for order management.
    The run's open exception is resolved with the reason. An abandoned run is never retried or replayed."""
    await run_of(engine, run_id, entities)
    claims = claims_of(request.scope)
    actor = actor_of(claims)
    run = await engine.abandon(run_id, actor=actor, note=data.note)
    compensation = run.compensation
    await audit.record(
        request,
        "run.abandoned",
        resource=run.id,
        legal_entity=run.legal_entity,
        detail={
            "note": data.note,
            "compensation": compensation.outcome if compensation else "",
            "erp_order": run.erp_order_id or "",
            "exception": compensation.exception_id or "" if compensation else "",
        },
    )
    return run


v1_router = Router(
    path="/v1",
    route_handlers=[start_run, get_run, replay_run, abandon_run],
    dependencies={"engine": Provide(_engine, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["quote-to-cash"],
)
