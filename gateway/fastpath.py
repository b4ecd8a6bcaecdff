"""The forwarding fast path: `/v{major}/...` bypasses Litestar's router and middleware stack.

Measured (bench/gateway/profile.sh): on the proxied path Litestar's routing, its exception
middleware and the per-request OpenTelemetry span + correlation middleware took about a third of
the worker's time. Installed as the app's `asgi_handler`, this class sends versioned paths straight
to `gateway.proxy.Gateway.handle` and everything else (health, schema) through Litestar as before.
It does here what the skipped middleware did: accept or mint `X-Correlation-ID` and set it in the
correlation context; the gateway echoes it on every answer and renders refusals as problem+json
(`gateway.proxy`). Trace context is continued by `gateway.headers` (same trace id, new parent id).
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from gateway.telemetry import traced
from servicekit import correlation_id, new_correlation_id

__all__ = ["FastPath", "versioned"]

_CID = b"x-correlation-id"
_MAX_ID = 128


def versioned(path: str) -> bool:
    """`/v<digits>` or `/v<digits>/...`: a path the route table may hold."""
    if len(path) < 3 or path[1] != "v" or not path[2].isdigit():
        return False
    end = 3
    while end < len(path) and path[end].isdigit():
        end += 1
    return end == len(path) or path[end] == "/"


class FastPath:
    """ASGI handler: versioned HTTP paths to the gateway, the rest to Litestar's own handler."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner
        #: What serves a versioned request: `forward`, inside the OpenTelemetry ASGI instrumentation
        #: only when tracing is on (`gateway.telemetry.traced`).
        self.enter: ASGIApp = traced(self.forward)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not versioned(scope["path"]):
            await self.inner(scope, receive, send)
            return
        await self.enter(scope, receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a versioned HTTP request through the gateway (`scope["app"]` is the Litestar app)."""
        cid = None
        for name, value in scope["headers"]:
            if name == _CID:
                cid = value.decode("latin-1")[:_MAX_ID]
                break
        cid = cid or new_correlation_id()
        scope["state"]["correlation_id"] = cid
        token = correlation_id.set(cid)
        try:
            # The gateway answers every request itself, refusals and failures included.
            await scope["app"].state.gateway.handle(scope, receive, send, cid)
        finally:
            correlation_id.reset(token)
