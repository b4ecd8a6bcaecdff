"""`POST /composite`: up to 25 sObject subrequests in one REST call (one call of the API allocation).

The subset the connector needs (platforms.md 1.3): record reads (`GET .../sobjects/{type}/{id}`,
with `?fields=`) and record updates (`PATCH .../sobjects/{type}/{id}`); any other subrequest URL
answers 404 NOT_FOUND in its slot. Later subrequests may use `@{referenceId.field}` in their URL or
string body values. The top level is always 200 `{"compositeResponse": [{body, httpHeaders,
httpStatusCode, referenceId}]}`; with `allOrNone: true` one failed subrequest rolls back the
updates before it and every other subrequest reports 400 PROCESSING_HALTED.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from litestar import Request, Response, Router, post
from litestar.params import FromPath

from system_apis.crm.sandbox.errors import ApiError, encode
from system_apis.crm.sandbox.gate import vendor_gate
from system_apis.crm.sandbox.routes_sobjects import read_record, request_body, writable_sobject
from system_apis.crm.sandbox.state import SandboxState
from system_apis.crm.sandbox.store import OrgStore

__all__ = ["MAX_SUBREQUESTS", "composite", "composite_router"]

#: Salesforce's limit of subrequests per composite call.
MAX_SUBREQUESTS: Final = 25
Record = dict[str, Any]

_REFERENCE_ID: Final = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE: Final = re.compile(r"@\{([A-Za-z0-9_]+)\.([A-Za-z0-9_.]+)\}")
_RECORD_PATH: Final = re.compile(r"^/services/data/(v\d{2,3}\.\d)/sobjects/([^/]+)/([^/]+)$")
_HALTED: Final = "The transaction was rolled back since another operation in the same transaction failed."


class _Halted(ApiError):
    def __init__(self, message: str = _HALTED) -> None:
        super().__init__(400, "PROCESSING_HALTED", message)


def _error_body(exc: ApiError) -> list[Record]:
    body: Record = {"message": exc.message, "errorCode": exc.error_code}
    if exc.fields or exc.status == 400:
        body["fields"] = list(exc.fields)
    return [body]


def _resolve(text: str, done: dict[str, Record]) -> str:
    """`@{ref.field}` replaced by that field of an earlier subrequest's answer."""

    def value(match: re.Match[str]) -> str:
        found: Any = done.get(match.group(1), {}).get("body")
        for part in match.group(2).split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if found is None:
            raise _Halted(f"Invalid reference specified. No value for {match.group(0)[2:-1]} found in {match.group(1)}")
        return str(found)

    return _REFERENCE.sub(value, text)


def _resolved(value: Any, done: dict[str, Record]) -> Any:
    if isinstance(value, str):
        return _resolve(value, done)
    if isinstance(value, dict):
        return {k: _resolved(v, done) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, done) for v in value]
    return value


def _subrequests(body: Record) -> list[Record]:
    items = body.get("compositeRequest")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise ApiError(400, "JSON_PARSER_ERROR", "compositeRequest must be a non-empty array of subrequests")
    if len(items) > MAX_SUBREQUESTS:
        raise ApiError(400, "LIMIT_EXCEEDED", f"A composite request may hold at most {MAX_SUBREQUESTS} subrequests")
    seen: set[str] = set()
    for item in items:
        reference = item.get("referenceId")
        if not isinstance(reference, str) or not _REFERENCE_ID.match(reference) or reference in seen:
            raise ApiError(400, "INVALID_INPUT", f"Invalid or duplicate referenceId: {reference!r}")
        if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
            raise ApiError(400, "JSON_PARSER_ERROR", f"Subrequest {reference} needs a method and a url")
        seen.add(reference)
    return items


def _execute(store: OrgStore, item: Record, done: dict[str, Record], undo: list[tuple[str, Record]]) -> tuple[int, Any]:
    """One subrequest: (status, body); raises ApiError for a failure in Salesforce's shape."""
    split = urlsplit(_resolve(item["url"], done))
    match = _RECORD_PATH.match(split.path)
    if match is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    version, sobject, record_id = match.groups()
    method = item["method"].upper()
    if method == "GET":
        wanted = parse_qs(split.query).get("fields", [None])[-1]
        return 200, read_record(store, sobject, record_id, version, wanted)
    if method == "PATCH":
        name = writable_sobject(sobject)
        fields = _resolved(item.get("body"), done)
        if not isinstance(fields, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object body")
        current = store.get(name, record_id)
        prior = dict(current) if current is not None else None
        store.update(name, record_id, fields)
        if prior is not None:
            undo.append((name, prior))
        return 204, None
    raise ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH")


@post("/{version:str}/composite", operation_id="sf_composite", status_code=200)
async def composite(request: Request[Any, Any, Any], version: FromPath[str]) -> Response[bytes]:
    """Run the subrequests in order; one answer per subrequest, in order."""
    state: SandboxState = request.app.state.sf
    body = await request_body(request)
    all_or_none = body.get("allOrNone", False) is True
    items = _subrequests(body)
    done: dict[str, Record] = {}
    undo: list[tuple[str, Record]] = []
    failed: str | None = None
    for item in items:
        reference = item["referenceId"]
        try:
            if failed is not None and all_or_none:
                raise _Halted()
            status, answer = _execute(state.store, item, done, undo)
            done[reference] = {"body": answer, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference}
        except ApiError as exc:
            done[reference] = {"body": _error_body(exc), "httpHeaders": {}, "httpStatusCode": exc.status,
                               "referenceId": reference}  # fmt: skip
            failed = failed or reference
    if failed is not None and all_or_none:
        for sobject, prior in reversed(undo):
            state.store.restore(sobject, prior)
        halted = _error_body(_Halted())
        for reference, entry in done.items():
            if reference != failed:
                entry.update(body=halted, httpHeaders={}, httpStatusCode=400)
    return Response(content=encode({"compositeResponse": list(done.values())}), media_type="application/json")


composite_router = Router(path="/services/data", route_handlers=[composite], before_request=vendor_gate)
