"""The hot SuiteTalk calls answered straight from ASGI, before Litestar routes the request.

Record reads and writes (`GET|PUT|PATCH record/v1/{type}/{ref}`, `POST record/v1/{type}`) and
`POST query/v1/suiteql` are what the ERP connector and its change feeds send for every
quote-to-cash run. Through Litestar's routing, guard (a copy of the handler per request),
dependency injection and response layers each cost several times the sandbox's own work.

`FastPath.route` claims only the plain forms of those calls and leaves everything else to
Litestar: other paths and methods, trailing slashes, a `root_path`, query strings other than the
exact forms below, bodies without a `Content-Length` or over `max_body_bytes`. So every edge case
(405, 404 INVALID_URL, parameter validation, 413) keeps its one implementation in the routes.
A claimed call gets the same bytes Litestar would send: the same governance (`governed`), token
check, record, SuiteQL and error functions build the answer, and the content-type and
content-length headers are the ones Litestar sets (tests/system_apis/erp/test_sandbox_fastpath.py
compares both paths).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import msgspec
from litestar.types import HTTPScope, Receive, Send

from system_apis.erp.sandbox.errors import ERROR_MEDIA_TYPE, NetSuiteError, error_body
from system_apis.erp.sandbox.governance import governed
from system_apis.erp.sandbox.routes_query import check_paging, suiteql_page
from system_apis.erp.sandbox.routes_records import check_writable, put_ref_error, render_record, write_record
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.unemulated import asks_unemulated
from system_apis.erp.sandbox.views import COLLECTION_MEDIA_TYPE, RESOURCE_MEDIA_TYPE
from system_apis.erp.sandbox.writes import parse_body

__all__ = ["FastPath", "Handler"]

log = logging.getLogger("system_apis.erp.sandbox")

Handler = Callable[[HTTPScope, Receive, Send], Awaitable[None]]

_RECORDS = "/services/rest/record/v1/"
_SUITEQL = "/services/rest/query/v1/suiteql"
_EXPAND = {b"": False, b"expandSubResources=true": True, b"expandSubResources=false": False}
_PAGING_PART = re.compile(rb"^(limit|offset)=(0|[1-9][0-9]{0,8})$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_encoder = msgspec.json.Encoder(decimal_format="number")
_RESOURCE = RESOURCE_MEDIA_TYPE.encode()
_COLLECTION = COLLECTION_MEDIA_TYPE.encode()
_ERROR = ERROR_MEDIA_TYPE.encode()


def _paging(query: bytes) -> tuple[int, int] | None:
    """`limit` and `offset` of a plain `limit=N&offset=M` query (either, both or none); None otherwise."""
    found: dict[bytes, int] = {}
    for part in query.split(b"&") if query else ():
        match = _PAGING_PART.match(part)
        if match is None or match[1] in found:
            return None
        found[match[1]] = int(match[2])
    return found.get(b"limit", 1000), found.get(b"offset", 0)


def _header(scope: HTTPScope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def _answer(send: Send, status: int, body: bytes, media_type: bytes) -> None:
    headers = [(b"content-type", media_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body; None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message: Any = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FastPath:
    """Recognises the hot vendor calls (`route`) and answers them (`serve`) for one sandbox."""

    def __init__(self, runtime: SandboxRuntime) -> None:
        self.runtime = runtime

    def route(self, scope: HTTPScope) -> Handler | None:
        """The handler of a plain hot call; None hands the request to Litestar."""
        path = scope["path"]
        if scope.get("root_path") or scope.get("scheme", "http") not in _DEFAULT_PORTS or not scope.get("server"):
            return None
        method = scope["method"]
        query = scope["query_string"]
        # Asynchronous requests are not emulated: the routes refuse them (unemulated.py).
        if asks_unemulated(_header(scope, b"prefer"), _header(scope, b"x-netsuite-idempotency-key") is not None):
            return None
        if path.startswith(_RECORDS):
            parts = path[len(_RECORDS) :].split("/")
            if len(parts) == 2 and parts[0] and parts[1]:
                if method == "GET":
                    expand = _EXPAND.get(query)
                    return (
                        None
                        if expand is None
                        else partial(self._get, record_type=parts[0], ref=parts[1], expand=expand)
                    )
                if method in ("PUT", "PATCH") and not query and self._body_fits(scope):
                    return partial(self._write, record_type=parts[0], ref=parts[1], upsert=method == "PUT")
            elif len(parts) == 1 and parts[0] and method == "POST" and not query and self._body_fits(scope):
                return partial(self._write, record_type=parts[0], ref=None, upsert=False)
            return None
        if path == _SUITEQL and method == "POST" and self._body_fits(scope):
            paging = _paging(query)
            return None if paging is None else partial(self._suiteql, limit=paging[0], offset=paging[1])
        return None

    async def serve(self, handler: Handler, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """Run `handler` under governance, answering refusals in NetSuite's error envelope."""

        async def call() -> None:
            try:
                await handler(scope, receive, send)
            except NetSuiteError as exc:
                body = error_body(
                    exc.status, exc.code, exc.detail, exc.path, query_param=exc.query_param, header=exc.header
                )
                await _answer(send, exc.status, body, _ERROR)
            except Exception:
                log.exception("sandbox error", extra={"path": scope["path"]})
                await _answer(send, 500, error_body(500, "UNEXPECTED_ERROR", "An unexpected error occurred."), _ERROR)

        await governed(self.runtime, scope, send, call)

    def _body_fits(self, scope: HTTPScope) -> bool:
        length = _header(scope, b"content-length")
        return (
            length is not None
            and length.isdigit()
            and int(length) <= self.runtime.settings.max_body_bytes
            and _header(scope, b"transfer-encoding") is None
        )

    def _base(self, scope: HTTPScope) -> str:
        """`<scheme>://<host>/services/rest` exactly as `views.rest_base` derives it from a request."""
        public_url = self.runtime.settings.public_url
        if public_url:
            return public_url.rstrip("/") + "/services/rest"
        scheme = scope.get("scheme", "http")
        host = _header(scope, b"host")
        if not host:
            name, port = scope.get("server") or ("", None)
            host = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
        return f"{scheme}://{host}/services/rest"

    def _authorize(self, scope: HTTPScope) -> None:
        origin = self._base(scope).removesuffix("/services/rest")
        query = scope["query_string"].decode("latin-1")
        url = origin + scope["path"] + (f"?{query}" if query else "")
        self.runtime.authenticate(_header(scope, b"authorization"), scope["method"], url)

    async def _get(
        self, scope: HTTPScope, receive: Receive, send: Send, *, record_type: str, ref: str, expand: bool
    ) -> None:
        self._authorize(scope)
        body = render_record(self.runtime, self._base(scope), record_type, ref, expand)
        await _answer(send, 200, _encoder.encode(body), _RESOURCE)

    async def _write(
        self, scope: HTTPScope, receive: Receive, send: Send, *, record_type: str, ref: str | None, upsert: bool
    ) -> None:
        """POST (ref None), PUT (upsert by `eid:`) or PATCH: 204 with the record's `Location`."""
        self._authorize(scope)
        check_writable(record_type)
        if upsert and (ref is None or not ref.startswith("eid:") or not ref[4:]):
            raise put_ref_error()
        raw = await _read_body(receive)
        if raw is None:
            return
        record_id = write_record(self.runtime, record_type, parse_body(raw), ref, upsert=upsert)
        location = f"{self._base(scope)}/record/v1/{record_type}/{record_id}"
        await send(
            {"type": "http.response.start", "status": 204, "headers": [(b"location", location.encode("latin-1"))]}
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _suiteql(self, scope: HTTPScope, receive: Receive, send: Send, *, limit: int, offset: int) -> None:
        self._authorize(scope)
        check_paging(_header(scope, b"prefer") or "", limit, offset)
        raw = await _read_body(receive)
        if raw is None:
            return
        page = suiteql_page(self.runtime, parse_body(raw), f"{self._base(scope)}/query/v1/suiteql", limit, offset)
        await _answer(send, 200, _encoder.encode(page), _COLLECTION)
