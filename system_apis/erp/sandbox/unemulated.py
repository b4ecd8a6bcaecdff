"""Refuse what the sandbox does not emulate, instead of silently ignoring it.

NetSuite's REST API takes more than the sandbox implements: collection filters (`q=`), field
selection (`fields=`), sublist replacement (`replace=`), asynchronous requests
(`Prefer: respond-async`) with their idempotency keys, and more. A client relying on one of those
against the sandbox would otherwise get an answer that silently ignored it (every record instead of
the filtered ones, a synchronous write instead of a job). Each route names the query parameters it
emulates; any other, and a preference or header NetSuite acts on but the sandbox does not, is a 400
in NetSuite's error envelope naming the parameter or header (`o:errorQueryParam` / `o:errorHeader`).
Preferences NetSuite itself does not act on are ignored, as RFC 7240 asks of every server.
"""

from __future__ import annotations

from typing import Any, Final

from system_apis.erp.sandbox.errors import NetSuiteError

__all__ = ["EMULATED_QUERY", "UNEMULATED_HEADERS", "UNEMULATED_PREFER", "asks_unemulated", "refuse_unemulated"]

#: operation id -> the query parameters it emulates.
EMULATED_QUERY: Final[dict[str, frozenset[str]]] = {
    "ns_list_records": frozenset({"limit", "offset"}),
    "ns_get_record": frozenset({"expandSubResources"}),
    "ns_suiteql": frozenset({"limit", "offset"}),
}
#: `Prefer` values NetSuite acts on that the sandbox does not emulate.
UNEMULATED_PREFER: Final = frozenset({"respond-async"})
#: Headers that ask for behaviour the sandbox does not have (asynchronous processing).
UNEMULATED_HEADERS: Final = ("X-NetSuite-Idempotency-Key",)


def _preferences(prefer: str) -> set[str]:
    return {p.split("=")[0].split(";")[0].strip().lower() for p in prefer.split(",") if p.strip()}


def asks_unemulated(prefer: str | None, headers_present: bool) -> bool:
    """Whether a request's `Prefer` value or headers ask for what the sandbox does not emulate."""
    return headers_present or (prefer is not None and bool(_preferences(prefer) & UNEMULATED_PREFER))


async def refuse_unemulated(connection: Any, handler: Any) -> None:
    """Guard of the record and query routes (async: a sync guard costs a thread hop per request)."""
    operation = str(handler.operation_id)
    emulated = EMULATED_QUERY.get(operation, frozenset())
    for name in connection.query_params:
        if name not in emulated:
            allowed = ", ".join(sorted(emulated)) or "none"
            raise NetSuiteError(
                400,
                "INVALID_PARAMETER",
                f"The query parameter {name!r} is not supported by this sandbox on this resource "
                f"(supported: {allowed}).",
                query_param=name,
            )
    prefer = connection.headers.get("prefer")
    if prefer is not None:
        unsupported = sorted(_preferences(prefer) & UNEMULATED_PREFER)
        if unsupported:
            raise NetSuiteError(
                400,
                "INVALID_HEADER",
                f"Prefer: {', '.join(unsupported)} is not supported by this sandbox on this resource "
                "(asynchronous requests are not emulated; send the request synchronously).",
                header="Prefer",
            )
    for header in UNEMULATED_HEADERS:
        if header in connection.headers:
            raise NetSuiteError(
                400,
                "INVALID_HEADER",
                f"The header {header} is not supported by this sandbox: it belongs to asynchronous requests, "
                "which are not emulated.",
                header=header,
            )
