"""The planning system API, version 1: committed bookings and actuals in and out of the planning platform,
its forecast versions and the status of import tasks."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from contracts import ActualsBatch, CommittedBookingsLoad, PlanningImportResult, Problem
from contracts.headers import PROBLEM_JSON
from servicekit import NotFound, StrictBody, require_scopes
from servicekit.openapi import request_examples
from system_apis.planning.checks import check_actuals
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import PlanningError, planning_error_handler
from system_apis.planning.schemas import CommittedBookingList, ForecastVersionList

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
_ACTUALS_READ = {**_WITH_BAD_REQUEST, 404: _problem("The planning platform holds no actuals for them")}
_IMPORT_STATUS = {**_COMMON, 404: _problem("No import task with that id (on the imports this service runs)")}


def _connector(state: State) -> PlanningConnector:
    connector: PlanningConnector = state.planning
    return connector


@post(
    "/committed-bookings",
    operation_id="load_committed_bookings",
    opt=request_examples(
        {
            "one_booking": {
                "bookings": [
                    {
                        "booking_code": "SO5013-1",
                        "legal_entity": "DE01",
                        "period": "2026-11",
                        "product_code": "FIG-PLAT",
                        "amount": {"amount": "12000.00", "currency": "EUR"},
                    }
                ]
            }
        }
    ),
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
    `version` names the version the cells belong to and whether it stayed published throughout the
    read: the cells of an unpublished version are a draft, not figures to report.
    """
    version, items = await _connector(state).read_versioned_bookings(legal_entity=legal_entity, period=period)
    return CommittedBookingList(items=items, version=version)


@post(
    "/actuals",
    operation_id="load_actuals",
    opt=request_examples(
        {
            "october_close": {
                "legal_entity": "DE01",
                "period": "2026-10",
                "currency": "EUR",
                "lines": [
                    {
                        "account": "4000",
                        "product_code": "FIG-PLAT",
                        "amount": {"amount": "182000.00", "currency": "EUR"},
                    },
                    {"account": "6000", "amount": {"amount": "41250.50", "currency": "EUR"}},
                ],
            }
        }
    ),
    summary="Load one entity's actuals for one period into the planning platform's Actuals version",
    dto=StrictBody[ActualsBatch],
    return_dto=None,
    status_code=200,
    guards=[require_scopes("planning:write")],
    responses={
        **_WITH_BAD_REQUEST,
        422: _problem(
            "The batch matches the contract but cannot be loaded: no lines, a line in another currency than "
            "the batch, or two lines for one account and product (actuals-not-loadable)"
        ),
    },
)
async def load_actuals(data: JSONBody[ActualsBatch], state: State) -> PlanningImportResult:
    """Import the lines as actuals cells (entity x period x account x product) of the Actuals version.

    One call is one import task (up to 100,000 lines). Loading the same entity, period, account and
    product again overwrites the cell (idempotent); a cell missing from a later batch is not cleared
    (send it with amount 0). Lines must be in the batch currency and unique per account and product
    (400 otherwise). As for committed bookings, rows the platform refuses come back with 200,
    `successful` false and `rejected` (`row` is the 1-based position in `lines`), e.g. when the
    Actuals version has been published (locked) in the planning model.
    """
    check_actuals(data)
    return await _connector(state).load_actuals(data)


@get(
    "/actuals",
    operation_id="get_actuals",
    summary="Read one entity's actuals for one period back from the planning platform",
    guards=[require_scopes("planning:read")],
    responses=_ACTUALS_READ,
)
async def get_actuals(
    state: State,
    legal_entity: Annotated[str, QueryParameter(pattern=ENTITY_PATTERN)],
    period: Annotated[str, QueryParameter(pattern=PERIOD_PATTERN)],
) -> ActualsBatch:
    """The Actuals version's cells of the entity and period, read through an export task (what the
    platform holds, not what was sent); lines without a product have `product_code` null. 404 when
    the platform holds no actuals for them."""
    batch = await _connector(state).read_actuals(legal_entity=legal_entity, period=period)
    if batch is None:
        detail = f"The planning platform holds no actuals for {legal_entity} in {period}"
        raise NotFound(detail, slug="actuals-not-found")
    return batch


@get(
    "/forecast-versions",
    operation_id="list_forecast_versions",
    summary="The planning model's versions and whether each is published",
    guards=[require_scopes("planning:read")],
    responses=_WITH_BAD_REQUEST,
)
async def list_forecast_versions(
    state: State,
    published: Annotated[
        bool | None,
        QueryParameter(description="Only published (true: locked, the figures to report) or unpublished (false)"),
    ] = None,
) -> ForecastVersionList:
    """Every version of the planning model (Actuals, committed bookings, forecasts, budgets).

    `published` versions are locked in the model: the platform refuses every write to them, and
    only they may feed reported figures. `published=true` lists only those.
    """
    versions = await _connector(state).forecast_versions()
    return ForecastVersionList(items=[v for v in versions if published is None or v.published == published])


@get(
    "/imports/{task_id:str}",
    operation_id="get_import_status",
    summary="The status of an earlier import task, with its rejected rows",
    guards=[require_scopes("planning:read")],
    responses=_IMPORT_STATUS,
)
async def get_import_status(task_id: FromPath[str], state: State) -> PlanningImportResult:
    """The task of a committed-bookings or actuals import, in any state (`successful` means
    something only once `state` is COMPLETE). `rejected` lists the rejected rows while the platform
    keeps the task's failure dump (it drops it after the next error-free run of the same import);
    after that `rows_rejected` still counts them. 404 for a task id this service does not know."""
    result = await _connector(state).import_status(task_id)
    if result is None:
        raise NotFound(f"No planning import task {task_id}", slug="import-task-not-found")
    return result


v1_router = Router(
    path="/v1",
    route_handlers=[
        load_committed_bookings,
        list_committed_bookings,
        load_actuals,
        get_actuals,
        list_forecast_versions,
        get_import_status,
    ],
    exception_handlers={PlanningError: planning_error_handler},
)
