"""`POST /services/rest/query/v1/suiteql`: SuiteQL with `Prefer: transient` and limit/offset paging."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post
from litestar.di import NamedDependency
from litestar.params import FromQuery

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.routes_records import require_token
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.suiteql import run_query
from system_apis.erp.sandbox.unemulated import refuse_unemulated
from system_apis.erp.sandbox.views import COLLECTION_MEDIA_TYPE, json_response, rest_base
from system_apis.erp.sandbox.writes import parse_body

__all__ = ["MAX_PAGE", "check_paging", "query_router", "suiteql_page"]

MAX_PAGE = 1000
MAX_RESULTS = 100_000


@post("/suiteql", operation_id="ns_suiteql", status_code=200)
async def suiteql(
    request: Request[Any, Any, Any],
    sandbox: NamedDependency[SandboxRuntime],
    limit: FromQuery[int] = MAX_PAGE,
    offset: FromQuery[int] = 0,
) -> Response[bytes]:
    """One page of a query's rows: `{links, count, hasMore, offset, totalResults, items}`."""
    check_paging(request.headers.get("prefer", ""), limit, offset)
    body = parse_body(await request.body())
    page = suiteql_page(
        sandbox, body, f"{rest_base(request, sandbox.settings.public_url)}/query/v1/suiteql", limit, offset
    )
    return json_response(page, media_type=COLLECTION_MEDIA_TYPE)


def check_paging(prefer: str, limit: int, offset: int) -> None:
    """SuiteQL needs `Prefer: transient`, a limit of 1..1000 and a non-negative offset."""
    if "transient" not in prefer.lower():
        raise NetSuiteError(400, "INVALID_HEADER", "SuiteQL requests need the header 'Prefer: transient'.", "Prefer")
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise NetSuiteError(400, "INVALID_PARAMETER", f"limit must be 1..{MAX_PAGE} and offset >= 0.")


def suiteql_page(sandbox: SandboxRuntime, body: dict[str, Any], url: str, limit: int, offset: int) -> dict[str, Any]:
    """One page of the rows of the query in `body` (`{"q": ...}`), as NetSuite renders it (paging checked
    by `check_paging` first)."""
    query = body.get("q")
    if not isinstance(query, str) or not query.strip():
        raise NetSuiteError(400, "INVALID_CONTENT", "The body needs a SuiteQL query in 'q'.", "q")
    rows = run_query(sandbox.store, query)[:MAX_RESULTS]
    page = rows[offset : offset + limit]
    links = [{"rel": "self", "href": f"{url}?limit={limit}&offset={offset}"}]
    if offset + limit < len(rows):
        links.append({"rel": "next", "href": f"{url}?limit={limit}&offset={offset + limit}"})
    return {
        "links": links,
        "count": len(page),
        "hasMore": offset + limit < len(rows),
        "offset": offset,
        "totalResults": len(rows),
        "items": [{"links": [], **row} for row in page],
    }


query_router = Router(
    path="/services/rest/query/v1", route_handlers=[suiteql], guards=[require_token, refuse_unemulated]
)
