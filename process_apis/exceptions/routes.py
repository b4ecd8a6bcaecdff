"""`/v1/exceptions`: the exception queue (list, read, retry, resolve, assign, dead-letter)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from process_apis import audit
from process_apis.entities import EntityScope, caller_actor, entity_scope
from process_apis.errors import ApprovalRequired, ExceptionConflict, ExceptionNotFound, RunNotFound, RunNotResumable
from process_apis.exceptions.model import (
    ExceptionPage,
    ExceptionRecord,
    ExceptionStatus,
    OwnerTeam,
    Severity,
)
from process_apis.exceptions.outcomes import settle, store_for
from process_apis.exceptions.store import ExceptionFilter
from process_apis.flows.service import Flows
from process_apis.workflows import QuoteToCash
from servicekit import BadRequest, StrictBody, require_scopes
from servicekit.openapi import financially_material, problem_spec

__all__ = ["AssignException", "DeadLetterException", "ResolveException", "RetryException", "exceptions_router"]

Note = Annotated[str, msgspec.Meta(min_length=1, max_length=2000, examples=["Mapped APAC to SG01 in default-v2"])]
#: An optional note: empty means none (Litestar's schema generator cannot take `Annotated[...] | None`).
OptionalNote = Annotated[str, msgspec.Meta(max_length=2000)]


class ResolveException(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Close the exception as handled outside the workflow; the note says how."""

    note: Note


class AssignException(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Hand the exception to another owner team."""

    owner_team: OwnerTeam
    note: OptionalNote = ""


class RetryException(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Continue the run from its failed gate (after fixing the cause).

    `post_into_open_period`: on a quote-to-cash `period_closed` exception, post the order into the
    entity's next open ERP period instead of the deal's closed one.
    """

    note: OptionalNote = ""
    post_into_open_period: bool = False


class DeadLetterException(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Stop handling the exception automatically; the run stays parked and can still be replayed."""

    note: OptionalNote = ""


_NOT_FOUND = problem_spec(
    "No such exception, or one of a legal entity the caller is not cleared for (exception-not-found)"
)


def _engine(state: State) -> QuoteToCash:
    engine: QuoteToCash = state.q2c
    return engine


def _four_eyes(request: Request[Any, Any, Any], exception_id: str) -> None:
    """409 `approval-required` when outcomes that close an exception need a second person."""
    if request.app.state.settings.four_eyes:
        raise ApprovalRequired(
            f"Four eyes: propose this outcome at POST /v1/exceptions/{exception_id}/proposals; "
            "a second person approves it at POST /v1/proposals/{proposal_id}/approve."
        )


def _refuse(record: ExceptionRecord, action: str) -> ExceptionConflict:
    return ExceptionConflict(
        f"Exception {record.id} is {record.status}; {action} does not apply.", extensions={"status": record.status}
    )


@get(
    "/exceptions",
    operation_id="listExceptions",
    summary="List exceptions, oldest first, filtered",
    guards=[require_scopes("exceptions:read")],
    responses={
        400: problem_spec(
            "A filter or `limit` outside the contract (invalid-request), or a `cursor` this API did not issue "
            "(invalid-cursor)"
        ),
        403: problem_spec(
            "The token lacks exceptions:read, or `entity` names a legal entity the caller is not cleared for "
            "(entity-not-allowed)"
        ),
    },
)
async def list_exceptions(
    *,
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
    status: FromQuery[ExceptionStatus | None] = None,
    owner: FromQuery[str | None] = None,
    entity: FromQuery[str | None] = None,
    workflow: FromQuery[str | None] = None,
    severity: FromQuery[Severity | None] = None,
    escalated: Annotated[
        bool | None,
        QueryParameter(description="true: only exceptions escalated past their SLA; false: only the others"),
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size, 1..500")] = 100,
    cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> ExceptionPage:
    """Exceptions matching every given filter (status, owner team, legal entity, workflow, severity,
    escalation past the SLA).

    Only exceptions of the caller's legal entities are listed; naming another entity is 403.
    """
    entities.require(entity)
    where = ExceptionFilter(
        status=status,
        owner_team=owner,
        legal_entity=entity,
        workflow=workflow,
        severity=severity,
        escalated=escalated,
        legal_entities=entities.allowed,
        unassigned=await entities.everything(),
    )
    try:
        return await engine.exceptions.page(where, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise BadRequest(str(exc), slug="invalid-cursor", title="Invalid cursor") from None


@get(
    "/exceptions/{exception_id:str}",
    operation_id="getException",
    summary="Read one exception with its history",
    guards=[require_scopes("exceptions:read")],
    responses={404: _NOT_FOUND},
)
async def get_exception(
    exception_id: FromPath[str], engine: NamedDependency[QuoteToCash], entities: NamedDependency[EntityScope]
) -> ExceptionRecord:
    """The exception, its owner, severity, SLA due time, retry policy and every action taken on it."""
    return await _found(engine, exception_id, entities)


async def _found(engine: QuoteToCash, exception_id: str, entities: EntityScope) -> ExceptionRecord:
    """The exception if it is the caller's entity's; another entity's is ExceptionNotFound, like a missing one."""
    record = await engine.exceptions.get(exception_id)
    if record is None or not await entities.admits(record.legal_entity):
        raise ExceptionNotFound(f"There is no exception {exception_id!r}.")
    return record


_ACTION_RESPONSES = {
    404: _NOT_FOUND,
    409: problem_spec("The action does not apply to the exception's status (exception-state-conflict)"),
}
_OUTCOME_RESPONSES = {
    404: _NOT_FOUND,
    409: problem_spec(
        "The action does not apply to the exception's status (exception-state-conflict), or four eyes "
        "are on and the outcome must be proposed (approval-required)"
    ),
}


@post(
    "/exceptions/{exception_id:str}/retry",
    operation_id="retryException",
    summary="Retry the exception's run from its failed gate",
    dto=StrictBody[RetryException],
    return_dto=None,
    status_code=202,
    guards=[require_scopes("exceptions:write")],
    opt=financially_material(),
    responses={
        **_ACTION_RESPONSES,
        409: problem_spec(
            "The exception is settled or its run is not parked, or `post_into_open_period` does not apply "
            "(exception-state-conflict)"
        ),
    },
)
async def retry_exception(
    exception_id: FromPath[str],
    data: JSONBody[RetryException],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> ExceptionRecord:
    """Mark the exception `retrying` and continue its run from the last good gate under the active controls.

    The run settles the exception (`auto_resolved`) when it passes the failed gate, or reopens it.
    Quote-to-cash, actuals-to-plan and customer-master-sync runs are retried (a sync re-reads its
    source record); retrying a reconciliation break reruns the entity-period's reconciliation, which
    closes the exception if the break is gone and reopens it if not.
    """
    record = await _found(engine, exception_id, entities)
    if record.status not in ("open", "dead_lettered"):
        raise _refuse(record, "retry")
    try:
        flows: Flows = request.app.state.flows
        if data.post_into_open_period and record.reason_code != "period_closed":
            raise ExceptionConflict(
                f"Exception {exception_id} is {record.reason_code}; `post_into_open_period` applies only to "
                "period_closed exceptions."
            )
        if record.workflow == "quote_to_cash":
            await engine.resume(
                record.run_id,
                actor=caller_actor(request),
                via="retry",
                note=data.note or None,
                into_open_period=data.post_into_open_period,
            )
        elif record.workflow == "reconciliation":
            await flows.recheck(
                record.run_id,
                exception_id,
                actor=caller_actor(request),
                note=data.note or None,
                correlation_id=record.correlation_id,
            )
        else:
            await flows.retry(record.run_id, actor=caller_actor(request), note=data.note or None)
    except RunNotFound:
        raise ExceptionConflict(f"The run {record.run_id} of exception {exception_id} no longer exists.") from None
    except RunNotResumable as exc:
        raise ExceptionConflict(exc.detail) from None
    await audit.record(
        request,
        "exception.retried",
        resource=exception_id,
        legal_entity=record.legal_entity,
        detail={"run": record.run_id, "note": data.note}
        | ({"post_into_open_period": "true"} if data.post_into_open_period else {}),
    )
    return await _found(engine, exception_id, entities)


@post(
    "/exceptions/{exception_id:str}/resolve",
    operation_id="resolveException",
    summary="Resolve an exception with a note",
    dto=StrictBody[ResolveException],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("exceptions:write")],
    responses=_OUTCOME_RESPONSES,
)
async def resolve_exception(
    exception_id: FromPath[str],
    data: JSONBody[ResolveException],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> ExceptionRecord:
    """Close the exception as handled; the note is required and kept in its history.

    With four eyes on (`FIG_FOUR_EYES`, the default), 409 `approval-required`: propose it at
    `POST /v1/exceptions/{exception_id}/proposals` instead.
    """
    await _found(engine, exception_id, entities)  # another entity's: 404 before anything changes
    _four_eyes(request, exception_id)
    changed = await settle(
        engine, request.app.state.flows, exception_id, "resolve", actor=caller_actor(request), note=data.note
    )
    if changed is None:
        raise ExceptionNotFound(f"There is no exception {exception_id!r}.")
    await audit.record(
        request,
        "exception.resolved",
        resource=changed.id,
        legal_entity=changed.legal_entity,
        detail={"note": data.note},
    )
    return changed


@post(
    "/exceptions/{exception_id:str}/assign",
    operation_id="assignException",
    summary="Assign an exception to an owner team",
    dto=StrictBody[AssignException],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("exceptions:write")],
    responses=_ACTION_RESPONSES,
)
async def assign_exception(
    exception_id: FromPath[str],
    data: JSONBody[AssignException],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> ExceptionRecord:
    """Change the owner team; the previous owner stays visible in the history."""
    await _found(engine, exception_id, entities)  # another entity's: 404 before anything changes
    actor = caller_actor(request)

    def change(record: ExceptionRecord) -> ExceptionRecord:
        if record.status == "resolved":
            raise _refuse(record, "assign")
        return record.act(
            "assigned",
            actor,
            engine.clock(),
            record.status,
            note=data.note or None,
            owner_team=data.owner_team,
        )

    changed = await engine.change_exception(
        exception_id, change, store=store_for(request.app.state.flows, exception_id)
    )
    if changed is None:
        raise ExceptionNotFound(f"There is no exception {exception_id!r}.")
    await audit.record(
        request,
        "exception.assigned",
        resource=changed.id,
        legal_entity=changed.legal_entity,
        detail={"owner_team": data.owner_team, "note": data.note},
    )
    return changed


@post(
    "/exceptions/{exception_id:str}/dead-letter",
    operation_id="deadLetterException",
    summary="Dead-letter an exception",
    dto=StrictBody[DeadLetterException],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("exceptions:write")],
    responses=_OUTCOME_RESPONSES,
)
async def dead_letter_exception(
    exception_id: FromPath[str],
    data: JSONBody[DeadLetterException],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> ExceptionRecord:
    """Give up on automatic handling; the run stays parked and `POST /v1/runs/{id}/replay` can still continue it.

    With four eyes on (`FIG_FOUR_EYES`, the default), 409 `approval-required`: propose it instead.
    """
    await _found(engine, exception_id, entities)  # another entity's: 404 before anything changes
    _four_eyes(request, exception_id)
    changed = await settle(
        engine,
        request.app.state.flows,
        exception_id,
        "dead_letter",
        actor=caller_actor(request),
        note=data.note or None,
    )
    if changed is None:
        raise ExceptionNotFound(f"There is no exception {exception_id!r}.")
    await audit.record(
        request,
        "exception.dead_lettered",
        resource=changed.id,
        legal_entity=changed.legal_entity,
        detail={"note": data.note},
    )
    return changed


exceptions_router = Router(
    path="/v1",
    route_handlers=[
        list_exceptions,
        get_exception,
        retry_exception,
        resolve_exception,
        assign_exception,
        dead_letter_exception,
    ],
    dependencies={"engine": Provide(_engine, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["exceptions"],
)
