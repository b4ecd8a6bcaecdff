"""`/v1/proposals` (four eyes): propose mapping-set and rule-set versions, rule-set activations and
exception outcomes; approve or reject them."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from process_apis import audit
from process_apis.controls.routes import MAPPING_EXAMPLE, ControlName
from process_apis.controls.rule_store import RuleSetBody
from process_apis.controls.store import MappingSetBody
from process_apis.entities import EntityScope, caller_actor, caller_subject, entity_scope
from process_apis.proposals.model import (
    ActivateRuleSet,
    DecideProposal,
    ExceptionOutcomeProposal,
    Proposal,
    ProposalKind,
    ProposalPage,
    ProposalStatus,
    RejectProposal,
)
from process_apis.proposals.service import Proposals
from servicekit import BadRequest, StrictBody, require_scopes
from servicekit.openapi import financially_material, problem_spec, request_examples

__all__ = ["proposals_router"]

_NOT_FOUND = problem_spec("No such proposal, or one affecting a legal entity the caller is not cleared for")
_DECISION_RESPONSES = {
    403: problem_spec("The token lacks approvals:write, or the caller proposed it (own-proposal)"),
    404: _NOT_FOUND,
    409: problem_spec(
        "The proposal was decided already (proposal-decided), what it changes has changed since (stale-proposal), "
        "or the exception's run is being advanced right now (proposal-busy; approve again)"
    ),
}


def _proposals(state: State) -> Proposals:
    proposals: Proposals = state.proposals
    return proposals


async def _audited(request: Request[Any, Any, Any], action: str, proposal: Proposal) -> Proposal:
    """Chain the proposal's step into the audit log of every legal entity it affects (global if none)."""
    detail = {
        "kind": proposal.kind,
        "target": proposal.target,
        "proposed_by": proposal.proposed_by,
        "decided_by": proposal.decided_by or "",
        "result": proposal.result or "",
        "note": (proposal.decision_note if proposal.decided_by else proposal.note) or "",
    }
    overrides = proposal.payload.get("overrides")
    if isinstance(overrides, dict):  # a force-retry: the values both people stand behind
        detail["overrides"] = ", ".join(f"{name}={value}" for name, value in sorted(overrides.items()))
    entities: list[str | None] = [*proposal.legal_entities] or [None]
    for entity in entities:
        await audit.record(request, action, resource=proposal.id, legal_entity=entity, detail=detail)
    return proposal


async def _created(request: Request[Any, Any, Any], proposal: Proposal) -> Response[Proposal]:
    await _audited(request, "proposal.created", proposal)
    return Response(proposal, status_code=201, headers={"Location": f"/v1/proposals/{proposal.id}"})


@post(
    "/mappings/{name:str}/proposals",
    operation_id="proposeMappingSet",
    summary="Propose a new version of a mapping set (four eyes)",
    opt=request_examples({"add_apac": MAPPING_EXAMPLE}),
    dto=StrictBody[MappingSetBody],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("controls:write")],
    responses={
        403: problem_spec(
            "The token lacks controls:write, or the change affects a legal entity the caller is not cleared for "
            "(entity-not-allowed)"
        ),
        404: problem_spec("No such mapping set (control-not-found)"),
        422: problem_spec("The proposed version does not validate (mapping-invalid)"),
    },
)
async def propose_mapping(
    request: Request[Any, Any, Any],
    name: FromPath[ControlName],
    data: JSONBody[MappingSetBody],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Response[Proposal]:
    """Validate the version now and keep it pending; it becomes active when a second person approves it."""
    return await _created(
        request, await proposals.propose_mapping(name, data, entities=entities, by=caller_subject(request))
    )


@post(
    "/exceptions/{exception_id:str}/proposals",
    operation_id="proposeExceptionOutcome",
    summary="Propose resolving, dead-lettering or force-retrying an exception with overridden values (four eyes)",
    dto=StrictBody[ExceptionOutcomeProposal],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("exceptions:write")],
    responses={
        403: problem_spec(
            "The token lacks exceptions:write, or an overridden legal entity is one the caller is not cleared for "
            "(entity-not-allowed)"
        ),
        404: problem_spec("No such exception, or one of a legal entity the caller is not cleared for"),
        409: problem_spec(
            "The outcome does not apply to the exception's status, or overridden values to its run (a quote-to-cash "
            "run that failed validation) (exception-state-conflict)"
        ),
        422: problem_spec(
            "`overrides` without outcome `retry` or missing with it, none named, or an entity the active mapping "
            "set does not book to (overrides-invalid)"
        ),
    },
)
async def propose_outcome(
    request: Request[Any, Any, Any],
    exception_id: FromPath[str],
    data: JSONBody[ExceptionOutcomeProposal],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Response[Proposal]:
    """Keep the outcome pending; it is applied to the exception when a second person approves it.

    `retry` with `overrides`: the approval retries the exception's quote-to-cash run from its last
    good gate with the overridden values (kept on the run, named in its history and the audit log).
    """
    proposal = await proposals.propose_outcome(exception_id, data, entities=entities, by=caller_subject(request))
    return await _created(request, proposal)


@post(
    "/rules/{name:str}/proposals",
    operation_id="proposeRuleSet",
    summary="Propose a new version of a validation rule set (four eyes)",
    dto=StrictBody[RuleSetBody],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("controls:write")],
    responses={
        403: problem_spec(
            "The token lacks controls:write, or the caller is not cleared for every legal entity (entity-not-allowed)"
        ),
        404: problem_spec("No such rule set (control-not-found)"),
        422: problem_spec("The proposed version does not validate (rule-set-invalid)"),
    },
)
async def propose_rules(
    request: Request[Any, Any, Any],
    name: FromPath[ControlName],
    data: JSONBody[RuleSetBody],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Response[Proposal]:
    """Keep the version pending; when a second person approves it, it is added and activated with both names."""
    return await _created(
        request, await proposals.propose_rules(name, data, entities=entities, by=caller_subject(request))
    )


@post(
    "/rules/{name:str}/versions/{number:int}/activation-proposals",
    operation_id="proposeRuleSetActivation",
    summary="Propose making an earlier (or later) rule set version active again: a roll back (four eyes)",
    dto=StrictBody[ActivateRuleSet],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("controls:write")],
    responses={
        403: problem_spec(
            "The token lacks controls:write, or the caller is not cleared for every legal entity (entity-not-allowed)"
        ),
        404: problem_spec("No such rule set version (control-not-found)"),
    },
)
async def propose_activation(
    *,
    request: Request[Any, Any, Any],
    name: FromPath[ControlName],
    number: FromPath[int],
    data: JSONBody[ActivateRuleSet],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Response[Proposal]:
    """Keep the activation pending; a second person's approval makes version `number` the active one."""
    proposal = await proposals.propose_activation(name, number, data, entities=entities, by=caller_subject(request))
    return await _created(request, proposal)


@get(
    "/proposals",
    operation_id="listProposals",
    summary="List proposals, newest first, with who proposed and decided them and when",
    guards=[require_scopes("approvals:read")],
    responses={
        400: problem_spec(
            "A filter or `limit` outside the contract (invalid-request), or a `cursor` this API did not issue "
            "(invalid-cursor)"
        )
    },
)
async def list_proposals(
    *,
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
    status: FromQuery[ProposalStatus | None] = None,
    kind: FromQuery[ProposalKind | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size, 1..500")] = 100,
    cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> ProposalPage:
    """Proposals affecting only the caller's legal entities, filtered by status and kind."""

    def keep(proposal: Proposal) -> bool:
        return (
            (status is None or proposal.status == status)
            and (kind is None or proposal.kind == kind)
            and proposals.visible(proposal, entities)
        )

    try:
        return await proposals.store.page(keep, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise BadRequest(str(exc), slug="invalid-cursor", title="Invalid cursor") from None


@get(
    "/proposals/{proposal_id:str}",
    operation_id="getProposal",
    summary="Read one proposal",
    guards=[require_scopes("approvals:read")],
    responses={404: _NOT_FOUND},
)
async def get_proposal(
    proposal_id: FromPath[str], proposals: NamedDependency[Proposals], entities: NamedDependency[EntityScope]
) -> Proposal:
    """The proposal, what it changes, and who proposed and decided it when."""
    return await proposals.get(proposal_id, entities)


@post(
    "/proposals/{proposal_id:str}/approve",
    operation_id="approveProposal",
    summary="Approve and apply a proposal (a second person)",
    dto=StrictBody[DecideProposal],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("approvals:write")],
    opt=financially_material(),
    responses=_DECISION_RESPONSES,
)
async def approve_proposal(
    request: Request[Any, Any, Any],
    proposal_id: FromPath[str],
    data: JSONBody[DecideProposal],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Proposal:
    """Apply the change now; the proposer can never approve their own proposal (403 `own-proposal`)."""
    decided = await proposals.approve(
        proposal_id, entities=entities, by=caller_subject(request), actor=caller_actor(request), note=data.note
    )
    return await _audited(request, "proposal.approved", decided)


@post(
    "/proposals/{proposal_id:str}/reject",
    operation_id="rejectProposal",
    summary="Reject a proposal (or withdraw your own)",
    dto=StrictBody[RejectProposal],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("approvals:write")],
    responses={**_DECISION_RESPONSES, 403: problem_spec("The token lacks approvals:write")},
)
async def reject_proposal(
    request: Request[Any, Any, Any],
    proposal_id: FromPath[str],
    data: JSONBody[RejectProposal],
    proposals: NamedDependency[Proposals],
    entities: NamedDependency[EntityScope],
) -> Proposal:
    """Close the proposal without applying it; the note says why."""
    decided = await proposals.reject(proposal_id, entities=entities, by=caller_subject(request), note=data.note)
    return await _audited(request, "proposal.rejected", decided)


proposals_router = Router(
    path="/v1",
    route_handlers=[
        propose_mapping,
        propose_rules,
        propose_activation,
        propose_outcome,
        list_proposals,
        get_proposal,
        approve_proposal,
        reject_proposal,
    ],
    dependencies={"proposals": Provide(_proposals, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["proposals"],
)
