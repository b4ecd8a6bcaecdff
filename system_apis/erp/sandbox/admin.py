"""`/__admin/`: test and demo controls that are not part of NetSuite (reset, approve, faults, stats)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.faults import Fault
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.store import Certificate, format_time, utcnow
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
                record.last_modified = utcnow()
                sandbox.store.save()
            return json_response(
                {"id": record.id, "closed": True, "lastModifiedDate": format_time(record.last_modified)}
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
    sandbox.store.state.certificates[cert.kid] = Certificate(
        kid=cert.kid, client_id=cert.client_id, public_key_pem=cert.public_key_pem
    )
    sandbox.store.save()
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
        orders_by_external_id,
        close_period,
        add_fault,
        clear_faults,
        revoke_tokens,
        add_certificate,
        stats,
    ],
)
