"""ASGI middleware shared by every service: correlation id and a server span per request."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind

from contracts.headers import CORRELATION_ID
from servicekit.context import correlation_id, new_correlation_id

__all__ = ["CorrelationMiddleware"]

_HEADER = CORRELATION_ID.encode()
_MAX_ID = 128


class CorrelationMiddleware(ASGIMiddleware):
    """Accept or mint `X-Correlation-ID`, continue the caller's `traceparent`, echo the id back."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, service: str) -> None:
        self.tracer = trace.get_tracer(service)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        carrier: dict[str, str] = {}
        cid: str | None = None
        for header, value in scope["headers"]:
            if header == _HEADER:
                cid = value.decode("latin-1")[:_MAX_ID]
            elif header in (b"traceparent", b"tracestate"):
                carrier[header.decode("latin-1")] = value.decode("latin-1")
        cid = cid or new_correlation_id()
        token = correlation_id.set(cid)
        scope.setdefault("state", {})["correlation_id"] = cid
        echo = (_HEADER, cid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        name = f"{scope.get('method', 'HTTP')} {scope.get('path', '')}"
        try:
            with self.tracer.start_as_current_span(name, context=propagate.extract(carrier), kind=SpanKind.SERVER):
                await next_app(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)
