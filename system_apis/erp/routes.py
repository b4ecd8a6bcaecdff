"""The ERP system API, v1: canonical customers and sales orders over NetSuite (ledger reads: routes_ledger)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Response, Router, get, patch, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, PathParameter, QueryParameter

from contracts import (
    Customer,
    CustomerMasterUpdate,
    CustomerUpsert,
    Problem,
    SalesOrder,
    SalesOrderStatus,
    SalesOrderUpsert,
)
from contracts.headers import PROBLEM_JSON
from servicekit import BadRequest, StrictBody, require_scopes
from servicekit.openapi import request_examples
from servicekit.ownership import enforce_ownership
from system_apis.erp.connector import NetSuiteClient
from system_apis.erp.connector.ledger import month_bounds, subsidiary_of
from system_apis.erp.connector.mapping import status_codes
from system_apis.erp.errors import erp_exception_handlers
from system_apis.erp.responses import problems
from system_apis.erp.routes_ledger import (
    ENTITY_PATTERN,
    PERIOD_PATTERN,
    get_actuals,
    list_accounting_periods,
    list_currencies,
    list_items,
    list_subsidiaries,
    list_tax_codes,
)
from system_apis.erp.schemas import SalesOrderPage

__all__ = ["v1_router"]

# One parameter name per path shape: OpenAPI treats `/customers/{a}` and `/customers/{b}` as one path.
KeyPath = Annotated[
    str,
    PathParameter(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="PUT: the deterministic external id (e.g. `SF-<CRM id>`). GET and PATCH: the NetSuite "
        "internal id (all digits) or the external id.",
    ),
]
Cursor = Annotated[str | None, QueryParameter(pattern=r"^[0-9]{1,18}$", description="next_cursor of the last page")]
Limit = Annotated[int, QueryParameter(ge=1, le=200)]


def _ref(key: str) -> str:
    """NetSuite's address of a record: internal ids are all digits, anything else is an external id."""
    return key if key.isdigit() else f"eid:{key}"


def _client(state: State) -> NetSuiteClient:
    client: NetSuiteClient = state.netsuite
    return client


def _created_or_updated(description: str, model: type[Customer] | type[SalesOrder]) -> dict[int, ResponseSpec]:
    return {
        201: ResponseSpec(data_container=model, description=f"{description} created", generate_examples=False),
        200: ResponseSpec(data_container=model, description=f"{description} updated", generate_examples=False),
        **problems(401, 403, 422, 502, 503),
    }


@put(
    "/customers/{customer_key:str}",
    operation_id="erp_upsert_customer",
    opt=request_examples(
        {
            "dach_customer": {
                "name": "Rheinwerk Analytics GmbH",
                "subsidiary_id": "2",
                "currency": "EUR",
                "email": "ap@rheinwerk.example",
            }
        }
    ),
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
    responses=problems(401, 403, 404, 502, 503),
)
async def get_customer(customer_key: KeyPath, netsuite: NamedDependency[NetSuiteClient]) -> Customer:
    """A customer by NetSuite internal id, or by external id (how a workflow resolves its customer)."""
    return await netsuite.get_customer(_ref(customer_key))


@put(
    "/sales-orders/{sales_order_key:str}",
    operation_id="erp_upsert_sales_order",
    opt=request_examples(
        {
            "platform_expansion": {
                "customer_id": "1031",
                "subsidiary_id": "2",
                "currency": "EUR",
                "tran_date": "2026-11-30",
                "memo": "Rheinwerk - Platform Expansion",
                "lines": [
                    {
                        "item_id": "101",
                        "quantity": "10",
                        "unit_price": {"amount": "1200.00", "currency": "EUR"},
                        "amount": {"amount": "12000.00", "currency": "EUR"},
                    }
                ],
            }
        }
    ),
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


@patch(
    "/customers/{customer_key:str}",
    operation_id="erp_update_customer_master",
    guards=[require_scopes("erp:write")],
    dto=StrictBody[CustomerMasterUpdate],
    return_dto=None,
    responses=problems(401, 403, 404, 409, 422, 502, 503),
)
async def update_customer_master(
    customer_key: KeyPath,
    data: JSONBody[CustomerMasterUpdate],
    netsuite: NamedDependency[NetSuiteClient],
    state: State,
) -> Customer:
    """Change customer-master fields of a customer (by internal or external id).

    The update may only carry fields its `origin` owns (`contracts.ownership`): otherwise 409
    `field-ownership` names each field and its owner, nothing is written, and each refused field is
    counted in `fig:ops:policy-violations`. Fields without a canonical `Customer` attribute
    (region, industry, billing country, tax jurisdiction) are written to custom entity fields.
    """
    await enforce_ownership(state.redis, data)
    return await netsuite.update_customer_master(_ref(customer_key), data.changes)


@get(
    "/sales-orders/{sales_order_key:str}",
    operation_id="erp_get_sales_order",
    guards=[require_scopes("erp:read")],
    responses=problems(401, 403, 404, 502, 503),
)
async def get_sales_order(sales_order_key: KeyPath, netsuite: NamedDependency[NetSuiteClient]) -> SalesOrder:
    """A sales order by NetSuite internal id, or by external id."""
    return await netsuite.get_sales_order(_ref(sales_order_key))


@post(
    "/sales-orders/{sales_order_key:str}/close",
    operation_id="erp_close_sales_order",
    guards=[require_scopes("erp:write")],
    status_code=200,
    responses={
        **problems(401, 403, 404, 502, 503),
        409: ResponseSpec(
            data_container=Problem,
            description="The order is booked, fulfilled or billed: order management reverses it (order-not-closable)",
            media_type=PROBLEM_JSON,
            generate_examples=False,
        ),
    },
)
async def close_sales_order(sales_order_key: KeyPath, netsuite: NamedDependency[NetSuiteClient]) -> SalesOrder:
    """Close a sales order that is not booked yet (by internal or external id): the compensation of a
    workflow abandoned after it created the order. Every line is closed in NetSuite, so the order is
    `closed`; one closed or cancelled already is answered as it is (safe to repeat)."""
    return await netsuite.close_sales_order(_ref(sales_order_key))


@get(
    "/sales-orders",
    operation_id="erp_list_sales_orders",
    guards=[require_scopes("erp:read")],
    responses=problems(401, 403, 404, 502, 503),
)
async def list_sales_orders(
    netsuite: NamedDependency[NetSuiteClient],
    *,
    status: Annotated[SalesOrderStatus | None, QueryParameter()] = None,
    legal_entity: Annotated[str | None, QueryParameter(pattern=ENTITY_PATTERN, description="e.g. DE01")] = None,
    period: Annotated[str | None, QueryParameter(pattern=PERIOD_PATTERN, description="tran_date month")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> SalesOrderPage:
    """Sales orders by ascending id, optionally of one status, legal entity and `tran_date` month
    (YYYY-MM); cursor-paged. 404 for a legal entity the ERP does not have."""
    orders, more = await netsuite.list_sales_orders(
        status_codes=status_codes([status]) if status else None,
        subsidiary=subsidiary_of(legal_entity) if legal_entity else None,
        tran_dates=_month(period) if period else None,
        after_id=int(cursor) if cursor else None,
        limit=limit,
    )
    return SalesOrderPage(items=orders, next_cursor=orders[-1].id if more and orders else None)


v1_router = Router(
    path="/v1",
    route_handlers=[
        upsert_customer,
        get_customer,
        update_customer_master,
        upsert_sales_order,
        get_sales_order,
        close_sales_order,
        list_sales_orders,
        list_accounting_periods,
        get_actuals,
        list_subsidiaries,
        list_items,
        list_currencies,
        list_tax_codes,
    ],
    dependencies={"netsuite": Provide(_client, sync_to_thread=False)},
    exception_handlers=erp_exception_handlers,  # type: ignore[arg-type]  # handler typed on the subclass
    tags=["erp"],
)


def _month(period: str) -> tuple[date, date]:
    try:
        return month_bounds(period)
    except ValueError:
        raise BadRequest(
            f"period {period!r} is not a calendar month (YYYY-MM, year 0001 or later).",
            slug="invalid-request",
            title="Invalid request",
        ) from None
