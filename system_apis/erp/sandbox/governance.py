"""Account concurrency governance and fault injection, in front of every `/services/rest` call.

NetSuite limits concurrent requests per account (not requests per day): a request beyond
`max_in_flight` gets 429 at once, with no `Retry-After`. Injected faults run inside the limit,
so a latency fault holds its slot as a slow real request would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from system_apis.erp.sandbox.errors import ERROR_MEDIA_TYPE, error_body
from system_apis.erp.sandbox.faults import Fault
from system_apis.erp.sandbox.runtime import SandboxRuntime

__all__ = ["GovernanceMiddleware", "governed"]

_PREFIX = "/services/rest/"


async def _send(send: Send, status: int, body: bytes, media_type: str = ERROR_MEDIA_TYPE) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", media_type.encode()), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class GovernanceMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, runtime: SandboxRuntime) -> None:
        self.runtime = runtime

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        return not str(scope.get("path", "")).startswith(_PREFIX)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await governed(self.runtime, scope, send, lambda: next_app(scope, receive, send))


async def governed(runtime: SandboxRuntime, scope: Scope, send: Send, call: Callable[[], Awaitable[None]]) -> None:
    """Run `call` (the request's handling) under the account's concurrency limit and armed faults.

    Shared by the middleware (requests Litestar routes) and the fast path (`fastpath.py`).
    """
    runtime.stats.requests += 1
    if runtime.in_flight >= runtime.settings.max_in_flight:
        runtime.stats.throttled += 1
        detail = "Too many concurrent requests for this account; the concurrency limit was exceeded."
        await _send(send, 429, error_body(429, "CONCURRENCY_LIMIT_EXCEEDED", detail))
        return
    runtime.in_flight += 1
    runtime.stats.max_in_flight_seen = max(runtime.stats.max_in_flight_seen, runtime.in_flight)
    try:
        # Faults are rare: most requests skip building the "METHOD /path" match entirely.
        fault = (
            runtime.faults.take(str(scope.get("method", "")), str(scope.get("path", "")))
            if runtime.faults.armed
            else None
        )
        if fault is not None and await _inject(fault, send):
            return
        await call()
    finally:
        runtime.in_flight -= 1


async def _inject(fault: Fault, send: Send) -> bool:
    """Apply `fault`; True when it answered the request itself."""
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    if fault.kind == "latency":
        return False
    if fault.kind == "error":
        await _send(send, fault.status, error_body(fault.status, "UNEXPECTED_ERROR", "An unexpected error occurred."))
    elif fault.kind == "throttle":
        await _send(send, 429, error_body(429, "CONCURRENCY_LIMIT_EXCEEDED", "Too many concurrent requests."))
    elif fault.kind == "expired_token":
        detail = "Invalid login attempt. For more details, see the Login Audit Trail."
        await _send(send, 401, error_body(401, "INVALID_LOGIN", detail))
    else:  # malformed: a 200 whose body is cut off mid-JSON
        await _send(send, 200, b'{"links": [], "id": "12', "application/vnd.oracle.resource+json")
    return True
