"""`/query` and `/queryAll`: SOQL with server-side paging through `nextRecordsUrl`."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get
from litestar.params import FromPath

from system_apis.crm.sandbox.errors import ApiError, encode
from system_apis.crm.sandbox.gate import vendor_gate
from system_apis.crm.sandbox.query import execute
from system_apis.crm.sandbox.soql import parse_soql
from system_apis.crm.sandbox.state import SandboxState

__all__ = ["MAX_BATCH", "MIN_BATCH", "batch_size", "query_router"]

MIN_BATCH, MAX_BATCH = 200, 2000


def batch_size(request: Request[Any, Any, Any], default: int) -> int:
    """`Sforce-Query-Options: batchSize=N` is honoured within 200..2000; otherwise the org default."""
    for option in request.headers.get("sforce-query-options", "").split(","):
        name, _, value = option.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value)))
    return default


def _run(request: Request[Any, Any, Any], version: str, *, include_deleted: bool) -> Response[bytes]:
    state: SandboxState = request.app.state.sf
    text = request.query_params.get("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    query = parse_soql(text)
    rows = execute(state.store, query, version, include_deleted=include_deleted)
    if query.count:
        return Response(
            content=encode({"totalSize": len(rows), "done": True, "records": []}),
            status_code=200,
            media_type="application/json",
        )
    page = state.cursors.page(rows, version, batch_size(request, state.settings.batch_size))
    return Response(content=encode(page), status_code=200, media_type="application/json")


def _more(request: Request[Any, Any, Any], version: str, locator: str) -> Response[bytes]:
    state: SandboxState = request.app.state.sf
    page = state.cursors.resume(locator, version, batch_size(request, state.settings.batch_size))
    return Response(content=encode(page), status_code=200, media_type="application/json")


@get("/{version:str}/query", operation_id="sf_query", sync_to_thread=False)
def query(request: Request[Any, Any, Any], version: FromPath[str]) -> Response[bytes]:
    return _run(request, version, include_deleted=False)


@get("/{version:str}/queryAll", operation_id="sf_query_all", sync_to_thread=False)
def query_all(request: Request[Any, Any, Any], version: FromPath[str]) -> Response[bytes]:
    return _run(request, version, include_deleted=True)


@get("/{version:str}/query/{locator:str}", operation_id="sf_query_more", sync_to_thread=False)
def query_more(request: Request[Any, Any, Any], version: FromPath[str], locator: FromPath[str]) -> Response[bytes]:
    return _more(request, version, locator)


@get("/{version:str}/queryAll/{locator:str}", operation_id="sf_query_all_more", sync_to_thread=False)
def query_all_more(request: Request[Any, Any, Any], version: FromPath[str], locator: FromPath[str]) -> Response[bytes]:
    return _more(request, version, locator)


query_router = Router(
    path="/services/data", route_handlers=[query, query_all, query_more, query_all_more], before_request=vendor_gate
)
