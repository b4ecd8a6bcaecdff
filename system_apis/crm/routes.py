"""`/v1` of the CRM system API: canonical opportunities and accounts read from Salesforce."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from contracts import Account, Opportunity, Problem
from contracts.headers import PROBLEM_JSON
from servicekit.auth import require_scopes
from servicekit.errors import BadRequest
from servicekit.problems import problem_response
from system_apis.crm.connector.reader import CrmReader, Keyset
from system_apis.crm.errors import CrmError, to_problem
from system_apis.crm.schemas import OpportunityPage

__all__ = ["decode_cursor", "encode_cursor", "v1_router"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(position: Keyset) -> str:
    raw = f"{position.modstamp.isoformat()}|{position.record_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Keyset:
    """The keyset a `next_cursor` names; BadRequest (400) when it was not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, record_id = raw.partition("|")
        modstamp = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("`cursor` is not a cursor this API returned", slug="invalid-cursor") from None
    if modstamp.tzinfo is None or not record_id.isalnum():
        raise BadRequest("`cursor` is not a cursor this API returned", slug="invalid-cursor")
    return Keyset(modstamp, record_id)


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    descriptions = {
        400: "Invalid parameter",
        401: "Missing or invalid bearer token",
        403: "The token lacks the crm:read scope",
        404: "No such record in Salesforce",
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
    responses=_problems(*_COMMON),
    guards=[require_scopes("crm:read")],
)
async def list_opportunities(
    reader: NamedDependency[CrmReader],
    changed_since: Annotated[
        datetime | None, QueryParameter(description="Only opportunities changed after this instant (ISO 8601)")
    ] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> OpportunityPage:
    """Opportunities changed after `changed_since`, oldest change first, `limit` per page."""
    if cursor:
        after = decode_cursor(cursor)
    else:
        since = changed_since or _EPOCH
        after = Keyset(since if since.tzinfo else since.replace(tzinfo=UTC))
    changes = await reader.changed_opportunities(after, limit + 1)
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
    """One account: the commercial half of the customer master."""
    return await reader.account(account_id)


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
        headers=problem.headers or None,
    )


v1_router = Router(
    path="/v1",
    route_handlers=[get_opportunity, list_opportunities, get_account],
    dependencies={"reader": Provide(_reader, sync_to_thread=False)},
    exception_handlers={CrmError: _on_crm_error},
)
