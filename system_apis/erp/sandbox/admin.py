"""`/__admin/`: test and demo controls that are not part of NetSuite (reset, approve, faults, stats)."""

from __future__ import annotations

from dataclasses import asdict
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.faults import Fault
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.store import (
    Certificate,
    OrderLine,
    PostingLine,
    SalesOrderRecord,
    format_time,
    utcnow,
)
from system_apis.erp.sandbox.views import json_response, rest_base, sales_order_json
from system_apis.erp.sandbox.writes import parse_body

__all__ = ["admin_router"]


class CertificateIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kid: str
    client_id: str
    public_key_pem: str


@post("/reset", operation_id="admin_reset", status_code=200)
async def reset(sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Back to the seed: records, tokens, faults and counters."""
    sandbox.reset()
    return json_response({"status": "reset"})


@get("/info", operation_id="admin_info")
async def info(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Account id, the dev integration's client id and certificate id, and the token URL."""
    settings = sandbox.settings
    base = rest_base(request, settings.public_url)
    return json_response(
        {
            "account_id": settings.ns_account_id,
            "client_id": settings.ns_client_id,
            "key_id": settings.ns_key_id,
            "token_url": f"{base}/auth/oauth2/v1/token",
            "dev_key_path": sandbox.dev_key_path,
        }
    )


@post("/sales-orders/{order_id:str}/approve", operation_id="admin_approve_sales_order", status_code=200)
async def approve(
    request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime], order_id: FromPath[str]
) -> Response[bytes]:
    """Approve an order (A → B) as an ERP user would; `lastModifiedDate` becomes now."""
    order = sandbox.store.sales_order(order_id)
    if order is None:
        raise NetSuiteError(404, "NONEXISTENT_ID", f"No sales order {order_id}.")
    if order.order_status != "A":
        raise NetSuiteError(400, "INVALID_OPERATION", f"Sales order {order_id} is not pending approval.")
    order.order_status = "B"
    order.last_modified = utcnow()
    sandbox.store.put_sales_order(order)
    base = rest_base(request, sandbox.settings.public_url)
    return json_response(sales_order_json(sandbox.store, order, base, expand=True))


class ApprovePending(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    external_id_prefix: str = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1000


@post("/sales-orders/approve-pending", operation_id="admin_approve_pending_sales_orders", status_code=200)
async def approve_pending(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Approve (A → B) up to `limit` pending orders whose external id starts with the prefix, oldest first.

    What an ERP user working through the approval queue does; benchmarks use it so the "user" adds
    no load to the system API under test. Answers `{"approved": [internal ids]}`.
    """
    try:
        command = msgspec.json.decode(await request.body() or b"{}", type=ApprovePending)
    except msgspec.DecodeError as exc:
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid request: {exc}") from None
    approved: list[str] = []
    for order in list(sandbox.store.state.sales_orders.values()):
        if len(approved) >= command.limit:
            break
        if order.order_status == "A" and (order.external_id or "").startswith(command.external_id_prefix):
            order.order_status = "B"
            order.last_modified = utcnow()
            sandbox.store.put_sales_order(order)
            approved.append(order.id)
    return json_response({"approved": approved})


class GenerateOrders(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)]
    subsidiary_id: str = "1"
    item_id: str = "101"


@post("/sales-orders/generate", operation_id="admin_generate_sales_orders", status_code=201)
async def generate_orders(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Create `count` pending-approval orders (one line of `item_id`) for the subsidiary's first customer.

    For load and crash tests: `{"ids": [...]}` in creation order, external ids `GEN-<id>`.
    """
    try:
        spec = msgspec.json.decode(await request.body(), type=GenerateOrders)
    except msgspec.DecodeError as exc:
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid request: {exc}") from None
    store = sandbox.store
    customer = next((c for c in store.state.customers.values() if c.subsidiary_id == spec.subsidiary_id), None)
    item = store.state.items.get(spec.item_id)
    if customer is None or item is None:
        raise NetSuiteError(400, "INVALID_CONTENT", "No customer in that subsidiary, or no such item.")
    now = utcnow()
    ids = []
    for _ in range(spec.count):
        order_id, tran_id = store.new_sales_order_ids()
        store.state.sales_orders[order_id] = SalesOrderRecord(
            id=order_id,
            tran_id=tran_id,
            entity_id=customer.id,
            subsidiary_id=customer.subsidiary_id,
            currency_id=customer.currency_id,
            tran_date=now.date(),
            order_status="A",
            lines=[
                OrderLine(line=1, item_id=item.id, quantity=Decimal(1), rate=item.base_price, amount=item.base_price)
            ],
            date_created=now,
            last_modified=now,
            external_id=f"GEN-{order_id}",
            memo="generated order",
        )
        ids.append(order_id)
    store.replace(store.state)  # reindex external ids and persist once
    return json_response({"ids": ids}, status=201)


class PostingIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One GL line to post: credit for `Income`, debit otherwise (a negative amount reverses)."""

    subsidiary_id: str
    period: str
    account: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,8}$")]
    amount: Decimal
    account_type: Literal["Income", "COGS", "Expense"] = "Income"
    item_id: str | None = None


@post("/postings", operation_id="admin_post_gl_line", status_code=201)
async def post_gl_line(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Post a GL line into an open period (as a journal entry would); closed periods refuse it."""
    try:
        posting = msgspec.json.decode(await request.body(), type=PostingIn)
    except msgspec.DecodeError as exc:
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid posting: {exc}") from None
    state = sandbox.store.state
    period = next(
        (p for p in state.periods.values() if p.subsidiary_id == posting.subsidiary_id and p.name == posting.period),
        None,
    )
    if period is None:
        raise NetSuiteError(
            404, "NONEXISTENT_ID", f"No period {posting.period} for subsidiary {posting.subsidiary_id}."
        )
    if period.closed:
        raise NetSuiteError(
            400, "INVALID_CONTENT", f"The accounting period {posting.period} is closed.", "postingPeriod"
        )
    if posting.item_id is not None and posting.item_id not in state.items:
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid item {posting.item_id}.", "item")
    transaction = str(90000 + len(state.postings) + 1)
    credit = (posting.account_type == "Income") == (posting.amount >= 0)
    amount, zero = abs(posting.amount), Decimal("0.00")
    sandbox.store.add_posting(
        PostingLine(
            transaction=transaction,
            line=1,
            subsidiary_id=posting.subsidiary_id,
            period_id=period.id,
            account=posting.account,
            account_type=posting.account_type,
            debit=zero if credit else amount,
            credit=amount if credit else zero,
            item_id=posting.item_id,
        )
    )
    return json_response({"transaction": transaction, "postingPeriod": period.id}, status=201)


@get("/sales-orders", operation_id="admin_sales_orders_by_external_id")
async def orders_by_external_id(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    external_id: Annotated[str, QueryParameter(name="externalId")],
) -> Response[bytes]:
    """Every order with that external id (`?externalId=`): tests assert there is exactly one."""
    base = rest_base(request, sandbox.settings.public_url)
    found = sandbox.store.orders_with_external_id(external_id)
    return json_response({"items": [sales_order_json(sandbox.store, o, base, expand=True) for o in found]})


@post("/periods/{subsidiary_id:str}/{period:str}/close", operation_id="admin_close_period", status_code=200)
async def close_period(
    sandbox: NamedDependency[SandboxRuntime], subsidiary_id: FromPath[str], period: FromPath[str]
) -> Response[bytes]:
    """Close an accounting period (`2026-11`) of one subsidiary."""
    for record in sandbox.store.state.periods.values():
        if record.subsidiary_id == subsidiary_id and record.name == period:
            if not record.closed:
                record.closed = True
                record.last_modified = record.closed_on = utcnow()
                sandbox.store.put_period(record)
            return json_response(
                {
                    "id": record.id,
                    "closed": True,
                    "closedOnDate": format_time(record.closed_on or record.last_modified),
                    "lastModifiedDate": format_time(record.last_modified),
                }
            )
    raise NetSuiteError(404, "NONEXISTENT_ID", f"No period {period} for subsidiary {subsidiary_id}.")


@post("/faults", operation_id="admin_add_fault", status_code=201)
async def add_fault(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Arm a fault for the next `count` requests matching `match` (see faults.Fault)."""
    try:
        fault = msgspec.json.decode(await request.body(), type=Fault)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid fault: {exc}") from None
    sandbox.faults.add(fault)
    return json_response({"armed": len(sandbox.faults.armed)}, status=201)


@delete("/faults", operation_id="admin_clear_faults", status_code=204)
async def clear_faults(sandbox: NamedDependency[SandboxRuntime]) -> None:
    sandbox.faults.clear()


@post("/tokens/revoke", operation_id="admin_revoke_tokens", status_code=200)
async def revoke_tokens(sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Invalidate every access token, as an expiry or a sandbox refresh would."""
    sandbox.tokens.revoke_all()
    return json_response({"status": "revoked"})


@post("/certificates", operation_id="admin_add_certificate", status_code=201)
async def add_certificate(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """Map another certificate (`kid` → client id + public key PEM), e.g. an RSA key for PS256."""
    body = parse_body(await request.body())
    try:
        cert = msgspec.convert(body, type=CertificateIn)
    except msgspec.ValidationError as exc:
        raise NetSuiteError(400, "INVALID_CONTENT", f"Invalid certificate: {exc}") from None
    sandbox.store.put_certificate(
        Certificate(kid=cert.kid, client_id=cert.client_id, public_key_pem=cert.public_key_pem)
    )
    return json_response({"kid": cert.kid}, status=201)


@get("/stats", operation_id="admin_stats")
async def stats(sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    return json_response({**asdict(sandbox.stats), "in_flight": sandbox.in_flight})


admin_router = Router(
    path="/__admin",
    route_handlers=[
        reset,
        info,
        approve,
        approve_pending,
        generate_orders,
        post_gl_line,
        orders_by_external_id,
        close_period,
        add_fault,
        clear_faults,
        revoke_tokens,
        add_certificate,
        stats,
    ],
)
