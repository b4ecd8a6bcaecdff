"""Shared pieces of the Integration API's wire format: envelope, paging, token guard, body reading."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.seed import MODEL_ID, WORKSPACE_ID
from system_apis.planning.sandbox.store import Store

__all__ = ["EMULATED_QUERY", "check_model", "envelope", "json_body", "page", "require_token", "store_of"]

#: The query parameters the sandbox emulates; any other is refused rather than silently ignored.
#: `tenantDetails`/`modelDetails` are accepted (clients send them) without adding detail fields.
EMULATED_QUERY = frozenset({"limit", "offset", "tenantDetails", "modelDetails"})

AnyRequest = Request[Any, Any, Any]


def store_of(request: AnyRequest) -> Store:
    store: Store = request.app.state.store
    return store


def envelope(request: AnyRequest, schema: str, **resources: Any) -> dict[str, Any]:
    """`{meta:{schema}, status:{code, message}, <resource>: ...}` as the Integration API answers."""
    return {
        "meta": {"schema": f"{str(request.base_url).rstrip('/')}/2/0/objects/{schema}"},
        "status": {"code": 200, "message": "Success"},
        **resources,
    }


def page(request: AnyRequest, schema: str, key: str, items: Sequence[Any]) -> dict[str, Any]:
    """A list resource paged by `limit` (default 1000) and `offset` (default 0)."""
    try:
        limit = int(request.query_params.get("limit", "1000"))
        offset = int(request.query_params.get("offset", "0"))
    except ValueError:
        raise AnaplanError(400, "limit and offset must be integers") from None
    if limit < 1 or offset < 0:
        raise AnaplanError(400, "limit must be at least 1 and offset at least 0")
    chunk = list(items[offset : offset + limit])
    body = envelope(request, schema, **{key: chunk})
    body["meta"]["paging"] = {"currentPageSize": len(chunk), "offset": offset, "totalSize": len(items)}
    return body


def check_model(workspace_id: str, model_id: str) -> None:
    if workspace_id != WORKSPACE_ID:
        raise AnaplanError(404, f"Workspace {workspace_id} not found")
    if model_id != MODEL_ID:
        raise AnaplanError(404, f"Model {model_id} not found in workspace {workspace_id}")


async def json_body(request: AnyRequest) -> dict[str, Any]:
    """The request's JSON object, `{}` for an empty body; 400 for anything else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise AnaplanError(400, "The request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise AnaplanError(400, "The request body must be a JSON object")
    return value


async def require_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: every Integration API call needs `Authorization: AnaplanAuthToken <tokenValue>`, and
    query parameters the sandbox does not emulate are refused (400), never silently ignored.

    Async on purpose: Litestar runs a sync guard in a worker thread, one thread hop per request.
    """
    kind, _sep, value = connection.headers.get("authorization", "").partition(" ")
    if kind != "AnaplanAuthToken" or not value.strip():
        raise AnaplanError(401, "Authentication required: send Authorization: AnaplanAuthToken <token>")
    store: Store = connection.app.state.store
    if store.valid_token(value.strip()) is None:
        raise AnaplanError(401, "Authentication failed: the token is unknown or has expired")
    unknown = sorted(set(connection.query_params) - EMULATED_QUERY)
    if unknown:
        raise AnaplanError(
            400, f"Query parameter {unknown[0]!r} is not supported by this sandbox (supported: limit, offset)"
        )
