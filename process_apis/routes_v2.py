"""`/v2/quote-to-cash/runs`: the run resource with its order lines, money per line and totals by currency.

Served beside `/v1` from the same run store: a run started through either version is readable
through both. v2 differs from v1 in shape only: the ERP references are grouped, and the lines and
totals come from the opportunity snapshot the run was started from (amounts as decimal strings).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from contracts import Money
from process_apis import audit
from process_apis.actors import actor_of
from process_apis.entities import EntityScope, entity_scope
from process_apis.routes import run_of
from process_apis.schemas import Gate, PlanningOutcome, QuoteToCashRun, RunError, RunState, RunStatus
from process_apis.workflows import QuoteToCash
from servicekit import StrictBody, claims_of, current_correlation_id, outgoing_headers, require_scopes
from servicekit.openapi import financially_material, problem_spec, response_links

__all__ = ["OrderLineV2", "QuoteToCashRunV2", "StartQuoteToCashV2", "v2_router"]

RUNS = "/quote-to-cash/runs"

OpportunityId = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[A-Za-z0-9]{1,40}$", description="Salesforce opportunity id", examples=["0068d00000DEMO2AAA"]
    ),
]


class StartQuoteToCashV2(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Start (or find) the quote-to-cash run of one approved CRM opportunity."""

    opportunity_id: OpportunityId


class OrderLineV2(msgspec.Struct, kw_only=True, frozen=True):
    """One order line as approved in CRM: quantity and money as decimal strings."""

    line_number: Annotated[int, msgspec.Meta(ge=1)]
    product_code: str
    quantity: Decimal
    unit_price: Money
    amount: Money


class ErpReferences(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Where the run's customer and sales order live in the ERP (absent until created)."""

    customer_id: str | None = None
    sales_order_id: str | None = None
    sales_order_external_id: str | None = None
    #: The open ERP period the order was posted into instead of its close date's closed one (a
    #: person's choice on a `period_closed` exception); None: the close date's period.
    posting_period: str | None = None


class QuoteToCashRunV2(msgspec.Struct, kw_only=True, frozen=True):
    """A quote-to-cash run (v2): its state, gates, order lines, totals per currency and references."""

    id: str
    opportunity_id: str
    workflow: Literal["quote_to_cash"]
    state: RunState
    status: RunStatus
    mapping_version: str
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLineV2]
    #: One entry per currency, in order of first appearance on the lines.
    totals: list[Money]
    gates: list[Gate]
    erp: ErpReferences
    legal_entity: str | None = None
    correlation_id: str | None = None
    planning: PlanningOutcome | None = None
    error: RunError | None = None


def _totals(lines: list[OrderLineV2]) -> list[Money]:
    sums: dict[str, Money] = {}
    for line in lines:
        sums[line.amount.currency] = sums.get(line.amount.currency, Money.zero(line.amount.currency)) + line.amount
    return list(sums.values())


async def _view(engine: QuoteToCash, run: QuoteToCashRun) -> QuoteToCashRunV2:
    try:
        opportunity = (await engine.store.source(run.id)).opportunity
        lines = [
            OrderLineV2(
                line_number=number,
                product_code=line.product_code,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.total,
            )
            for number, line in enumerate(opportunity.lines, start=1)
        ]
    except KeyError:  # a run without its snapshot (never written by this version) shows no lines
        lines = []
    return QuoteToCashRunV2(
        id=run.id,
        opportunity_id=run.opportunity_id,
        workflow=run.workflow,
        state=run.state,
        status=run.status,
        mapping_version=run.mapping_version,
        created_at=run.created_at,
        updated_at=run.updated_at,
        lines=lines,
        totals=_totals(lines),
        gates=run.gates,
        erp=ErpReferences(
            customer_id=run.erp_customer_id,
            sales_order_id=run.erp_order_id,
            sales_order_external_id=run.erp_order_external_id,
            posting_period=run.posting_period,
        ),
        legal_entity=run.legal_entity,
        correlation_id=run.correlation_id,
        planning=run.planning,
        error=run.error,
    )


def _engine(state: State) -> QuoteToCash:
    engine: QuoteToCash = state.q2c
    return engine


@post(
    RUNS,
    operation_id="startQuoteToCashRunV2",
    summary="Start the quote-to-cash run of an approved opportunity",
    dto=StrictBody[StartQuoteToCashV2],
    return_dto=None,
    status_code=202,
    guards=[require_scopes("q2c:write")],
    response_headers=[
        # documentation_only: the handler sets it; `value` only gives the document its string schema.
        ResponseHeader(
            name="Location",
            value="/v2/quote-to-cash/runs/{run_id}",
            description="Where to follow the run",
            documentation_only=True,
            required=True,
        )
    ],
    opt=financially_material(**response_links({"getRun": ("getQuoteToCashRunV2", {"run_id": "$response.body#/id"})})),
    responses={
        200: ResponseSpec(
            data_container=QuoteToCashRunV2, description="The opportunity already has this run", generate_examples=False
        ),
        404: problem_spec(
            "CRM has no such opportunity, or it belongs to a legal entity the caller is not cleared for "
            "(opportunity-not-found)"
        ),
        422: problem_spec("The opportunity is not won and approved (opportunity-not-approved)"),
        502: problem_spec("CRM refused or answered outside its contract"),
        503: problem_spec("CRM is unreachable"),
    },
)
async def start_run_v2(
    data: JSONBody[StartQuoteToCashV2],
    request: Request[Any, Any, Any],
    engine: NamedDependency[QuoteToCash],
    entities: NamedDependency[EntityScope],
) -> Response[QuoteToCashRunV2]:
    """Return the opportunity's run if it has one (200); else fetch it from CRM and, if approved, create it (202).

    Nothing is written when CRM does not know the opportunity, it is not approved, or CRM is down.
    Follow the run at `Location`. Send an `Idempotency-Key`: the gateway requires one on this call.
    An opportunity of a legal entity the caller is not cleared for is 404, as if CRM did not know it.
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
    return Response(
        await _view(engine, run), status_code=202 if created else 200, headers={"Location": f"/v2{RUNS}/{run.id}"}
    )


@get(
    RUNS + "/{run_id:str}",
    operation_id="getQuoteToCashRunV2",
    summary="Read a quote-to-cash run with its order lines and totals",
    guards=[require_scopes("q2c:read")],
    responses={
        404: problem_spec("No such run, or one of a legal entity the caller is not cleared for (run-not-found)")
    },
)
async def get_run_v2(
    run_id: FromPath[str], engine: NamedDependency[QuoteToCash], entities: NamedDependency[EntityScope]
) -> QuoteToCashRunV2:
    """The run with its gates, order lines (money per line), totals per currency and ERP and planning references."""
    return await _view(engine, await run_of(engine, run_id, entities))


v2_router = Router(
    path="/v2",
    route_handlers=[start_run_v2, get_run_v2],
    dependencies={"engine": Provide(_engine, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["quote-to-cash"],
)
