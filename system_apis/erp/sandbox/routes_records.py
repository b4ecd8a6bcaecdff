"""`/services/rest/record/v1`: customers and sales orders (read/write), reference records (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.store import Store
from system_apis.erp.sandbox.unemulated import refuse_unemulated
from system_apis.erp.sandbox.views import (
    COLLECTION_MEDIA_TYPE,
    collection,
    currency_json,
    customer_json,
    item_json,
    json_response,
    period_json,
    public_origin,
    rest_base,
    sales_order_json,
    sales_order_lines_json,
    subsidiary_json,
    tax_code_json,
)
from system_apis.erp.sandbox.writes import apply_customer, apply_sales_order, parse_body

__all__ = ["check_writable", "put_ref_error", "record_router", "render_record", "require_token", "write_record"]

WRITABLE = ("customer", "salesOrder")
MAX_PAGE = 1000


async def require_token(connection: Any, _: Any) -> None:
    """Guard: a live bearer token from the token endpoint or a valid TBA signature, else 401 INVALID_LOGIN.

    Async on purpose: Litestar runs a sync guard in a worker thread, one thread hop per request.
    """
    runtime: SandboxRuntime = connection.app.state.sandbox
    origin = public_origin(connection, runtime.settings.public_url)
    query = connection.scope["query_string"].decode("latin-1")
    url = origin + connection.scope["path"] + (f"?{query}" if query else "")
    runtime.authenticate(connection.headers.get("authorization"), connection.scope["method"], url)


def _not_found(record_type: str, ref: str) -> NetSuiteError:
    return NetSuiteError(
        404, "NONEXISTENT_ID", f"The record instance does not exist. Provide a valid record instance ID: {ref}.", "id"
    )


def _unknown_type(record_type: str) -> NetSuiteError:
    return NetSuiteError(404, "INVALID_URL", f"Record type {record_type!r} does not exist or is not supported.")


def _record_ids(store: Store, record_type: str) -> list[str]:
    tables: dict[str, dict[str, Any]] = {
        "customer": store.state.customers,
        "salesOrder": store.state.sales_orders,
        "subsidiary": store.state.subsidiaries,
        "currency": store.state.currencies,
        "serviceSaleItem": store.state.items,
        "accountingPeriod": store.state.periods,
        "salesTaxItem": store.state.tax_codes,
    }
    if record_type not in tables:
        raise _unknown_type(record_type)
    return sorted(tables[record_type], key=lambda i: (len(i), i))


def render_record(runtime: SandboxRuntime, base: str, record_type: str, ref: str, expand: bool) -> dict[str, Any]:
    """The vendor JSON of one record; NetSuiteError 404 for an unknown type or record."""
    store = runtime.store
    state = store.state
    body: dict[str, Any] | None = None
    if record_type == "customer":
        customer = store.customer(ref)
        body = customer_json(store, customer, base) if customer else None
    elif record_type == "salesOrder":
        order = store.sales_order(ref)
        body = sales_order_json(store, order, base, expand=expand) if order else None
    elif record_type == "subsidiary":
        sub = state.subsidiaries.get(ref)
        body = subsidiary_json(store, sub, base) if sub else None
    elif record_type == "currency":
        cur = state.currencies.get(ref)
        body = currency_json(cur, base) if cur else None
    elif record_type == "serviceSaleItem":
        item = state.items.get(ref)
        body = item_json(item, base) if item else None
    elif record_type == "accountingPeriod":
        period = state.periods.get(ref)
        body = period_json(store, period, base) if period else None
    elif record_type == "salesTaxItem":
        tax = state.tax_codes.get(ref)
        body = tax_code_json(store, tax, base) if tax else None
    else:
        raise _unknown_type(record_type)
    if body is None:
        raise _not_found(record_type, ref)
    return body


@get("/{record_type:str}", operation_id="ns_list_records")
async def list_records(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    record_type: FromPath[str],
    limit: FromQuery[int] = MAX_PAGE,
    offset: FromQuery[int] = 0,
) -> Response[bytes]:
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise NetSuiteError(400, "INVALID_PARAMETER", f"limit must be 1..{MAX_PAGE} and offset >= 0.")
    base = rest_base(request, sandbox.settings.public_url)
    url = f"{base}/record/v1/{record_type}"
    page = collection(url, _record_ids(sandbox.store, record_type), url, limit=limit, offset=offset)
    return json_response(page, media_type=COLLECTION_MEDIA_TYPE)


@get("/{record_type:str}/{ref:str}", operation_id="ns_get_record")
async def get_record(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    record_type: FromPath[str],
    ref: FromPath[str],
    expand: Annotated[bool, QueryParameter(name="expandSubResources")] = False,
) -> Response[bytes]:
    base = rest_base(request, sandbox.settings.public_url)
    return json_response(render_record(sandbox, base, record_type, ref, expand))


@get("/{record_type:str}/{ref:str}/{sublist:str}", operation_id="ns_get_sublist")
async def get_sublist(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    record_type: FromPath[str],
    ref: FromPath[str],
    sublist: FromPath[str],
) -> Response[bytes]:
    """The only sublist emulated is the sales order's `item` (one path shape: the router does not backtrack)."""
    if record_type != "salesOrder" or sublist != "item":
        raise _unknown_type(f"{record_type}/{sublist}")
    order = sandbox.store.sales_order(ref)
    if order is None:
        raise _not_found("salesOrder", ref)
    base = rest_base(request, sandbox.settings.public_url)
    return json_response(sales_order_lines_json(sandbox.store, order, base), media_type=COLLECTION_MEDIA_TYPE)


def _written(
    request: Request[Any, Any, Any], sandbox: SandboxRuntime, record_type: str, record_id: str
) -> Response[bytes]:
    base = rest_base(request, sandbox.settings.public_url)
    return Response(content=b"", status_code=204, headers={"Location": f"{base}/record/v1/{record_type}/{record_id}"})


def put_ref_error() -> NetSuiteError:
    return NetSuiteError(400, "INVALID_PARAMETER", "PUT is only supported with an external id (eid:<value>).")


def check_writable(record_type: str) -> None:
    if record_type not in WRITABLE:
        # Reference records (subsidiaries, items, currencies, periods) are read-only in the sandbox.
        raise NetSuiteError(405, "METHOD_NOT_ALLOWED", f"Record type {record_type!r} is read-only in this account.")


def write_record(
    sandbox: SandboxRuntime, record_type: str, body: dict[str, Any], ref: str | None, *, upsert: bool
) -> str:
    """Create (`ref` None), upsert (`eid:` ref) or update one customer or sales order; its internal id."""
    store = sandbox.store
    path_eid = ref[4:] if ref and ref.startswith("eid:") else None
    if record_type == "customer":
        existing_customer = store.customer(ref) if ref else None
        if ref and existing_customer is None and not upsert:
            raise _not_found(record_type, ref)
        customer = apply_customer(store, body, existing_customer, path_eid)
        store.put_customer(customer)
        return customer.id
    existing_order = store.sales_order(ref) if ref else None
    if ref and existing_order is None and not upsert:
        raise _not_found(record_type, ref)
    order = apply_sales_order(store, body, existing_order, path_eid)
    store.put_sales_order(order)
    return order.id


@post("/{record_type:str}", operation_id="ns_create_record", status_code=200)
async def create_record(
    request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime], record_type: FromPath[str]
) -> Response[bytes]:
    """Create → 204 with `Location`, no body (parse the new id from the header)."""
    check_writable(record_type)
    body = parse_body(await request.body())
    return _written(request, sandbox, record_type, write_record(sandbox, record_type, body, None, upsert=False))


@put("/{record_type:str}/{ref:str}", operation_id="ns_upsert_record", status_code=200)
async def upsert_record(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    record_type: FromPath[str],
    ref: FromPath[str],
) -> Response[bytes]:
    """Upsert by external id (`eid:<externalId>` only): one record per external id, whatever the retries."""
    check_writable(record_type)
    if not ref.startswith("eid:") or not ref[4:]:
        raise put_ref_error()
    body = parse_body(await request.body())
    return _written(request, sandbox, record_type, write_record(sandbox, record_type, body, ref, upsert=True))


@patch("/{record_type:str}/{ref:str}", operation_id="ns_update_record", status_code=200)
async def update_record(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    record_type: FromPath[str],
    ref: FromPath[str],
) -> Response[bytes]:
    check_writable(record_type)
    body = parse_body(await request.body())
    return _written(request, sandbox, record_type, write_record(sandbox, record_type, body, ref, upsert=False))


record_router = Router(
    path="/services/rest/record/v1",
    route_handlers=[list_records, get_record, get_sublist, create_record, upsert_record, update_record],
    guards=[require_token, refuse_unemulated],
)
