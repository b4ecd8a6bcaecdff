"""The ERP system API, v1: canonical customers and sales orders over NetSuite."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, Router, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from contracts import Customer, CustomerUpsert, Problem, SalesOrder, SalesOrderStatus, SalesOrderUpsert
from contracts.headers import PROBLEM_JSON
from servicekit import StrictBody, require_scopes
from system_apis.erp.connector import NetSuiteClient
from system_apis.erp.connector.mapping import status_codes
from system_apis.erp.errors import erp_exception_handlers
from system_apis.erp.schemas import SalesOrderPage

__all__ = ["v1_router"]

# One parameter name per path shape: OpenAPI treats `/customers/{a}` and `/customers/{b}` as one path.
KeyPath = Annotated[
    str,
    PathParameter(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="PUT: the deterministic external id (e.g. `SF-<CRM id>`). GET: the NetSuite internal id "
        "(all digits) or the external id.",
    ),
]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$", description="next_cursor of the last page")]
Limit = Annotated[int, QueryParameter(ge=1, le=100)]


def _ref(key: str) -> str:
    """NetSuite's address of a record: internal ids are all digits, anything else is an external id."""
    return key if key.isdigit() else f"eid:{key}"


def _client(state: State) -> NetSuiteClient:
    client: NetSuiteClient = state.netsuite
    return client


_PROBLEMS = {
    401: "No or invalid bearer token",
    403: "The token lacks the scope",
    404: "No such record in the ERP",
    422: "The ERP refused the data; `errors[].location` names the field",
    502: "The ERP answered with an error or an unreadable body",
    503: "The ERP is unreachable or kept throttling after retries",
}


def _problems(*statuses: int) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem, description=_PROBLEMS[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in statuses
    }


def _created_or_updated(description: str, model: type[Customer] | type[SalesOrder]) -> dict[int, ResponseSpec]:
    return {
        201: ResponseSpec(data_container=model, description=f"{description} created", generate_examples=False),
        200: ResponseSpec(data_container=model, description=f"{description} updated", generate_examples=False),
        **_problems(401, 403, 422, 502, 503),
    }


@put(
    "/customers/{customer_key:str}",
    operation_id="erp_upsert_customer",
    guards=[require_scopes("erp:write")],
    dto=StrictBody[CustomerUpsert],
    return_dto=None,
    responses=_created_or_updated("customer", Customer),
)
async def upsert_customer(
    customer_key: KeyPath, data: JSONBody[CustomerUpsert], netsuite: NamedDependency[NetSuiteClient]
) -> Response[Customer]:
    """Create or update the ERP customer with this external id: 201 when created, 200 when updated."""
    customer, created = await netsuite.upsert_customer(customer_key, data)
    return Response(customer, status_code=201 if created else 200)


@get(
    "/customers/{customer_key:str}",
    operation_id="erp_get_customer",
    guards=[require_scopes("erp:read")],
    responses=_problems(401, 403, 404, 502, 503),
)
async def get_customer(customer_key: KeyPath, netsuite: NamedDependency[NetSuiteClient]) -> Customer:
    """A customer by NetSuite internal id, or by external id (how a workflow resolves its customer)."""
    return await netsuite.get_customer(_ref(customer_key))


@put(
    "/sales-orders/{sales_order_key:str}",
    operation_id="erp_upsert_sales_order",
    guards=[require_scopes("erp:write")],
    dto=StrictBody[SalesOrderUpsert],
    return_dto=None,
    responses=_created_or_updated("sales order", SalesOrder),
)
async def upsert_sales_order(
    sales_order_key: KeyPath, data: JSONBody[SalesOrderUpsert], netsuite: NamedDependency[NetSuiteClient]
) -> Response[SalesOrder]:
    """Create or update the one sales order with this external id (422 names an unknown customer/item)."""
    order, created = await netsuite.upsert_sales_order(sales_order_key, data)
    return Response(order, status_code=201 if created else 200)


@get(
    "/sales-orders/{sales_order_key:str}",
    operation_id="erp_get_sales_order",
    guards=[require_scopes("erp:read")],
    responses=_problems(401, 403, 404, 502, 503),
)
async def get_sales_order(sales_order_key: KeyPath, netsuite: NamedDependency[NetSuiteClient]) -> SalesOrder:
    """A sales order by NetSuite internal id, or by external id."""
    return await netsuite.get_sales_order(_ref(sales_order_key))


@get(
    "/sales-orders",
    operation_id="erp_list_sales_orders",
    guards=[require_scopes("erp:read")],
    responses=_problems(401, 403, 502, 503),
)
async def list_sales_orders(
    netsuite: NamedDependency[NetSuiteClient],
    status: Annotated[SalesOrderStatus | None, QueryParameter()] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> SalesOrderPage:
    """Sales orders by ascending id, optionally of one status; cursor-paged."""
    orders, more = await netsuite.list_sales_orders(
        status_codes=status_codes([status]) if status else None,
        after_id=int(cursor) if cursor else None,
        limit=limit,
    )
    return SalesOrderPage(items=orders, next_cursor=orders[-1].id if more and orders else None)


v1_router = Router(
    path="/v1",
    route_handlers=[upsert_customer, get_customer, upsert_sales_order, get_sales_order, list_sales_orders],
    dependencies={"netsuite": Provide(_client, sync_to_thread=False)},
    exception_handlers=erp_exception_handlers,  # type: ignore[arg-type]  # handler typed on the subclass
    tags=["erp"],
)
