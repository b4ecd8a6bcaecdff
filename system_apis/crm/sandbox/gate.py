"""What runs before every REST call: injected faults, the session check, the API allocation.

Also the `Sforce-Limit-Info` header, which Salesforce sends on every REST response.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

from litestar import Request, Response
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from system_apis.crm.sandbox.errors import api_error_response
from system_apis.crm.sandbox.faults import FaultSpec
from system_apis.crm.sandbox.state import SandboxState

__all__ = ["VERSION_PATTERN", "LimitInfoMiddleware", "apply_fault", "vendor_gate"]

VERSION_PATTERN: Final = re.compile(r"^v\d{2,3}\.\d$")
_MALFORMED: Final = b'{"totalSize":1,"done":true,"records":[{"attributes":{"type":'


async def apply_fault(state: SandboxState, spec: FaultSpec) -> Response[bytes] | None:
    """Act out one fault; a response short-circuits the call, None lets it proceed."""
    if spec.kind == "latency":
        await asyncio.sleep(spec.latency_ms / 1000)
        return None
    if spec.kind == "expire_sessions":
        state.sessions.expire_all()
        return None
    if spec.kind == "limit":
        return api_error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if spec.kind == "malformed":
        return Response(content=_MALFORMED, status_code=200, media_type="application/json")
    return api_error_response(spec.status, spec.error_code, f"Injected fault: {spec.status} {spec.error_code}")


async def vendor_gate(request: Request[Any, Any, Any]) -> Response[bytes] | None:
    """`before_request` of every `/services/data/vXX.X/...` route."""
    state: SandboxState = request.app.state.sf
    # The scope's path: `request.url` would build a whole URL object per call.
    spec = state.faults.take(request.method, request.scope["path"]) if state.faults.armed else None
    if spec is not None:
        response = await apply_fault(state, spec)
        if response is not None:
            return response
    if not VERSION_PATTERN.match(str(request.path_params.get("version", ""))):
        return api_error_response(404, "NOT_FOUND", "The requested resource does not exist")
    kind, _, token = request.headers.get("authorization", "").partition(" ")
    if kind.lower() not in ("bearer", "oauth") or not state.sessions.valid(token.strip()):
        return api_error_response(
            401, "INVALID_SESSION_ID", "Session expired or invalid", headers={"WWW-Authenticate": "Token"}
        )
    if not state.usage.consume():
        return api_error_response(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    return None


class LimitInfoMiddleware(ASGIMiddleware):
    """Adds `Sforce-Limit-Info: api-usage=<used>/<max>` to every response under `/services/`."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if not scope.get("path", "").startswith("/services/"):
            await next_app(scope, receive, send)
            return
        state: SandboxState = scope["app"].state.sf

        async def send_with_usage(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"sforce-limit-info" for name, _ in headers):
                    headers.append((b"sforce-limit-info", state.usage.header().encode()))
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_usage)
