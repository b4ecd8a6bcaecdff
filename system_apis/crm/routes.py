"""`/v1` of the CRM system API: canonical opportunities and accounts over Salesforce."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get, patch
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from contracts import Account, CustomerMasterUpdate, Opportunity, Problem
from contracts.headers import PROBLEM_JSON
from contracts.model import MONTH_PATTERN
from servicekit.auth import require_scopes
from servicekit.body import StrictBody
from servicekit.errors import BadRequest
from servicekit.openapi import problem_spec
from servicekit.ownership import enforce_ownership
from servicekit.problems import problem_response
from servicekit.redis import RedisClient
from system_apis.crm.connector.client import soql_quote
from system_apis.crm.connector.mapping import Region
from system_apis.crm.connector.reader import CrmReader, Keyset
from system_apis.crm.connector.writer import CrmWriter
from system_apis.crm.errors import CrmError, to_problem
from system_apis.crm.paging import decode_cursor, decode_id_cursor, encode_cursor, encode_id_cursor, is_id_cursor
from system_apis.crm.schemas import OpportunityPage

__all__ = ["opportunity_filters", "v1_router"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERIOD = MONTH_PATTERN


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        400: "Invalid parameter or body",
        401: "Missing or invalid bearer token",
        403: "The token lacks the required scope (crm:read, or crm:write for changes)",
        404: "No such record in Salesforce",
        409: "The update changes a field its origin does not own (`field-ownership`); nothing was written",
        422: "Salesforce refused the values (e.g. a region outside the picklist); nothing was written",
        502: "Salesforce refused the call (the problem's `code` is Salesforce's errorCode)",
        503: "Salesforce unreachable, unavailable, or its daily API allocation exhausted",
        504: "Salesforce did not answer in time",
    }
    return {
        status: ResponseSpec(
            data_container=Problem, description=descriptions[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in statuses
    }


_COMMON = (400, 401, 403, 502, 503, 504)


def _reader(state: State) -> CrmReader:
    reader: CrmReader = state.crm_reader
    return reader


def _writer(state: State) -> CrmWriter:
    writer: CrmWriter = state.crm_writer
    return writer


def opportunity_filters(won: bool | None, close_period: str | None, region: str | None) -> str:
    """SOQL conditions (joined with AND, empty when none) for the listing's filters."""
    conditions = []
    if won is not None:
        conditions.append(f"IsWon = {'true' if won else 'false'}")
    if close_period:
        try:
            first = date.fromisoformat(close_period + "-01")
        except ValueError:
            raise BadRequest(
                f"close_period {close_period!r} is not a calendar month (YYYY-MM, year 0001 or later).",
                slug="invalid-request",
                title="Invalid request",
            ) from None
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        conditions += [f"CloseDate >= {first.isoformat()}", f"CloseDate < {following.isoformat()}"]
    if region:
        conditions.append(f"Region__c = {soql_quote(region)}")
    return " AND ".join(conditions)


@get(
    "/opportunities/{opportunity_id:str}",
    operation_id="crm_get_opportunity",
    responses=_problems(*_COMMON, 404),
    guards=[require_scopes("crm:read")],
)
async def get_opportunity(opportunity_id: FromPath[str], reader: NamedDependency[CrmReader]) -> Opportunity:
    """One opportunity with its lines, as the canonical model."""
    return await reader.opportunity(opportunity_id)


@get(
    "/opportunities",
    operation_id="crm_list_opportunities",
    responses={
        **_problems(*_COMMON),
        400: problem_spec(
            "A parameter outside the contract, e.g. `limit` outside 1..200 (invalid-request), or a `cursor` this "
            "API did not return or that belongs to another kind of listing (invalid-cursor)"
        ),
    },
    guards=[require_scopes("crm:read")],
)
async def list_opportunities(
    reader: NamedDependency[CrmReader],
    *,
    changed_since: Annotated[
        datetime | None, QueryParameter(description="Only opportunities changed after this instant (ISO 8601)")
    ] = None,
    won: Annotated[bool | None, QueryParameter(description="Only won (true) or not won (false) deals")] = None,
    close_period: Annotated[
        str | None, QueryParameter(pattern=_PERIOD, description="Only deals closing in this month (YYYY-MM)")
    ] = None,
    region: Annotated[Region | None, QueryParameter(description="Only deals of this Salesforce region")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> OpportunityPage:
    """Opportunities, `limit` per page; follow `next_cursor` (with the same filters) until it is null.

    With `changed_since` (or no filter at all): changes after that instant, oldest change first, in
    (last modified, id) order; `won`, `close_period`, `region` narrow them. With filters and no
    `changed_since` (e.g. `won=true&close_period=2026-10&region=DACH` for reconciliation): the
    matching deals in id order, a walk that neither skips nor repeats a deal while deals change.
    """
    where = opportunity_filters(won, close_period, region)
    if (cursor and is_id_cursor(cursor)) or (not cursor and where and changed_since is None):
        after_id = decode_id_cursor(cursor) if cursor else ""
        found = await reader.opportunities_by_id(where, after_id, limit + 1)
        more = len(found) > limit
        return OpportunityPage(items=found[:limit], next_cursor=encode_id_cursor(found[limit - 1].id) if more else None)
    if cursor:
        after = decode_cursor(cursor)
    else:
        since = changed_since or _EPOCH
        after = Keyset(since if since.tzinfo else since.replace(tzinfo=UTC))
    changes = await reader.changed_opportunities(after, limit + 1, where=where)
    items = [c.opportunity for c in changes[:limit]]
    next_cursor = encode_cursor(changes[limit - 1].position) if len(changes) > limit else None
    return OpportunityPage(items=items, next_cursor=next_cursor)


@get(
    "/accounts/{account_id:str}",
    operation_id="crm_get_account",
    responses=_problems(*_COMMON, 404),
    guards=[require_scopes("crm:read")],
)
async def get_account(account_id: FromPath[str], reader: NamedDependency[CrmReader]) -> Account:
    """One account: the commercial half of the customer master, with the ERP's mirrored fields."""
    return await reader.account(account_id)


@patch(
    "/accounts/{account_id:str}",
    operation_id="crm_update_account",
    dto=StrictBody[CustomerMasterUpdate],
    return_dto=None,
    responses=_problems(*_COMMON, 404, 409, 422),
    guards=[require_scopes("crm:write")],
)
async def update_account(
    account_id: FromPath[str],
    data: JSONBody[CustomerMasterUpdate],
    writer: NamedDependency[CrmWriter],
    state: State,
) -> Account:
    """Change customer-master fields of an account; only fields the update's `origin` owns.

    CRM-owned fields (name, billing_country, region, industry, email) change the Account itself;
    ERP-owned ones (erp_customer_id, subsidiary_id, currency, terms, credit_limit, tax_jurisdiction)
    change its read-only ERP mirror fields. A field the origin does not own: 409 `field-ownership`,
    one error per field naming its owner, counted as a policy violation, nothing written.
    """
    redis: RedisClient = state.redis
    await enforce_ownership(redis, data)
    return await writer.update_account(account_id, data.changes)


def _on_crm_error(request: Request[Any, Any, Any], exc: CrmError) -> Response[bytes]:
    # The one place where Salesforce failures become problem+json.
    problem = to_problem(exc)
    return problem_response(
        request,
        status=problem.status,
        slug=problem.problem_slug,
        title=problem.problem_title,
        detail=problem.detail,
        code=problem.code,
        errors=problem.errors,
        headers=problem.headers or None,
    )


v1_router = Router(
    path="/v1",
    route_handlers=[get_opportunity, list_opportunities, get_account, update_account],
    dependencies={
        "reader": Provide(_reader, sync_to_thread=False),
        "writer": Provide(_writer, sync_to_thread=False),
    },
    exception_handlers={CrmError: _on_crm_error},
)
