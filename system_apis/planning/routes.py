"""The planning system API, version 1: committed bookings in and out of the planning platform."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from contracts import CommittedBookingsLoad, PlanningImportResult, Problem
from contracts.headers import PROBLEM_JSON
from servicekit import StrictBody, require_scopes
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import PlanningError, planning_error_handler
from system_apis.planning.schemas import CommittedBookingList

__all__ = ["v1_router"]

ENTITY_PATTERN = r"^[A-Z]{2}[0-9]{2}$"
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        data_container=Problem, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


_COMMON = {
    401: _problem("No or invalid bearer token"),
    403: _problem("The token lacks the scope"),
    502: _problem("The planning platform failed the task or answered wrongly"),
    503: _problem("The planning platform is unreachable, busy or throttling after retries"),
    504: _problem("The planning platform's task did not complete in time"),
}
_WITH_BAD_REQUEST = {400: _problem("The request does not match the contract"), **_COMMON}


def _connector(state: State) -> PlanningConnector:
    connector: PlanningConnector = state.planning
    return connector


@post(
    "/committed-bookings",
    operation_id="load_committed_bookings",
    summary="Load committed bookings into the planning platform",
    dto=StrictBody[CommittedBookingsLoad],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("planning:write")],
    responses=_WITH_BAD_REQUEST,
)
async def load_committed_bookings(data: JSONBody[CommittedBookingsLoad], state: State) -> PlanningImportResult:
    """Import the bookings as committed-bookings cells (entity x period x product, keyed by booking code).

    The answer is 200 whenever the import ran, even if the planning platform rejected rows: then
    `successful` is false and `rejected` lists each refused booking (`row` is its 1-based position
    in `bookings`) with the platform's reason; when every row was rejected, `rows_loaded` is 0.
    Loading the same booking codes again overwrites the same cells (idempotent). 502 means the
    platform failed the import as a whole or answered wrongly; 503 means it was unreachable,
    busy or throttling after bounded retries (see `Retry-After`); 504 means its task did not finish.
    """
    return await _connector(state).load_committed_bookings(data.bookings)


@get(
    "/committed-bookings",
    operation_id="list_committed_bookings",
    summary="Read committed bookings back from the planning platform",
    guards=[require_scopes("planning:read")],
    responses=_WITH_BAD_REQUEST,
)
async def list_committed_bookings(
    state: State,
    legal_entity: Annotated[str | None, QueryParameter(pattern=ENTITY_PATTERN, required=False)] = None,
    period: Annotated[str | None, QueryParameter(pattern=PERIOD_PATTERN, required=False)] = None,
) -> CommittedBookingList:
    """The committed-bookings cells as the planning platform holds them, optionally for one entity/period.

    Read through an export task, so it reflects what the platform committed, not what was sent.
    """
    items = await _connector(state).read_committed_bookings(legal_entity=legal_entity, period=period)
    return CommittedBookingList(items=items)


v1_router = Router(
    path="/v1",
    route_handlers=[load_committed_bookings, list_committed_bookings],
    exception_handlers={PlanningError: planning_error_handler},
)
