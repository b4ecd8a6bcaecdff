"""NetSuite's error envelope: `{type, title, status, o:errorDetails:[{detail, o:errorCode, o:errorPath?}]}`
(`o:errorQueryParam` / `o:errorHeader` instead of `o:errorPath` when a query parameter or a header is at fault).

The sandbox answers in the vendor's shape (not problem+json), because it emulates the vendor.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

__all__ = ["ERROR_MEDIA_TYPE", "NetSuiteError", "error_body", "error_response", "exception_handlers"]

log = logging.getLogger("system_apis.erp.sandbox")

ERROR_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=error"

_TYPES = {
    400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request"),
    401: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2", "Unauthorized"),
    403: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4", "Forbidden"),
    404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found"),
    405: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6", "Method Not Allowed"),
    429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests"),
    500: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1", "Internal Server Error"),
    502: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.3", "Bad Gateway"),
    503: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4", "Service Unavailable"),
}


class NetSuiteError(Exception):
    """A refusal the sandbox renders in the NetSuite envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        path: str | None = None,
        *,
        query_param: str | None = None,
        header: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
        self.query_param = query_param
        self.header = header


def error_body(
    status: int,
    code: str,
    detail: str,
    path: str | None = None,
    *,
    query_param: str | None = None,
    header: str | None = None,
) -> bytes:
    kind, title = _TYPES.get(status, (_TYPES[500][0], "Error"))
    item: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        item["o:errorPath"] = path
    if query_param is not None:
        item["o:errorQueryParam"] = query_param
    if header is not None:
        item["o:errorHeader"] = header
    return msgspec.json.encode({"type": kind, "title": title, "status": status, "o:errorDetails": [item]})


def error_response(
    status: int,
    code: str,
    detail: str,
    path: str | None = None,
    *,
    query_param: str | None = None,
    header: str | None = None,
) -> Response[bytes]:
    body = error_body(status, code, detail, path, query_param=query_param, header=header)
    return Response(content=body, status_code=status, media_type=ERROR_MEDIA_TYPE)


def _on_netsuite(_: Request[Any, Any, Any], exc: NetSuiteError) -> Response[bytes]:
    return error_response(exc.status, exc.code, exc.detail, exc.path, query_param=exc.query_param, header=exc.header)


def _on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if isinstance(exc, ValidationException):
        return error_response(400, "INVALID_PARAMETER", f"Invalid request parameter: {exc.extra or exc.detail}")
    if status == 404:
        return error_response(404, "INVALID_URL", f"The URL {request.url.path} is not valid.")
    if status == 405:
        return error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.url.path}.")
    return error_response(status, "INVALID_REQUEST", str(exc.detail))


def _on_unhandled(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("sandbox error", extra={"path": request.url.path})
    return error_response(500, "UNEXPECTED_ERROR", "An unexpected error occurred.")


exception_handlers: ExceptionHandlersMap = {
    NetSuiteError: _on_netsuite,
    HTTPException: _on_http,
    Exception: _on_unhandled,
}
