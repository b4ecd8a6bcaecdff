"""Org-level resources: the global describe (`/sobjects`) and the org's limits (`/limits`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from system_apis.crm.sandbox.errors import encode
from system_apis.crm.sandbox.gate import vendor_gate
from system_apis.crm.sandbox.routes_sobjects import UPDATABLE, WRITABLE
from system_apis.crm.sandbox.schema import OBJECTS, key_prefix
from system_apis.crm.sandbox.state import SandboxState

__all__ = ["org_router"]

#: Salesforce caps a describe of several objects at this many (`maxBatchSize`).
_MAX_BATCH = 200


def _json(body: Any) -> Response[bytes]:
    return Response(content=encode(body), status_code=200, media_type="application/json")


@get("/{version:str}/sobjects", operation_id="sf_describe_global", sync_to_thread=False)
def describe_global(version: FromPath[str]) -> Response[bytes]:
    """Every object of the org with what may be done with it, as the global describe lists them."""
    objects = []
    for name in OBJECTS:
        base = f"/services/data/{version}/sobjects/{name}"
        objects.append(
            {
                "name": name,
                "label": name,
                "labelPlural": f"{name}s",
                "keyPrefix": key_prefix(name),
                "custom": False,
                "createable": name in WRITABLE,
                "updateable": name in UPDATABLE,
                "deletable": False,
                "queryable": True,
                "retrieveable": True,
                "searchable": False,
                "layoutable": False,
                "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
            }
        )
    return _json({"encoding": "UTF-8", "maxBatchSize": _MAX_BATCH, "sobjects": objects})


@get("/{version:str}/limits", operation_id="sf_limits", sync_to_thread=False)
def limits(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The org's daily API allocation (`DailyApiRequests`): the one limit the sandbox enforces."""
    state: SandboxState = request.app.state.sf
    usage = state.usage
    return _json({"DailyApiRequests": {"Max": usage.limit, "Remaining": max(0, usage.limit - usage.used)}})


org_router = Router(path="/services/data", route_handlers=[describe_global, limits], before_request=vendor_gate)
