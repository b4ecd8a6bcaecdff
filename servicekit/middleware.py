"""ASGI middleware shared by every service: correlation id and the access log.

The server span itself comes from the OpenTelemetry ASGI instrumentation (`servicekit.observability`),
which runs outside this middleware, so the access-log line and every log record of the request
carry its trace id.
"""

from __future__ import annotations

import logging
import time

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

from contracts.headers import CORRELATION_ID
from servicekit.context import correlation_id, new_correlation_id

__all__ = ["ACCESS_LOGGER", "CORRELATION_ATTRIBUTE", "CorrelationMiddleware", "log_access"]

#: The span attribute that carries the correlation id (on every server span).
CORRELATION_ATTRIBUTE = "fig.correlation_id"
_HEADER = CORRELATION_ID.encode()
_MAX_ID = 128
#: The logger of the access log (one INFO line per request).
ACCESS_LOGGER = "fig.access"
_access = logging.getLogger(ACCESS_LOGGER)


def log_access(
    *,
    method: str,
    route: str,
    status: int,
    started: float,
    client: str | None,
    subject: str | None,
    legal_entities: str | None,
) -> None:
    """Write one access-log line (the correlation and trace ids are added by the JSON formatter).

    Never headers, bodies or tokens: only who (client id, subject), what (method, route template),
    how it ended (status) and how long it took.
    """
    if not _access.isEnabledFor(logging.INFO):
        return
    extra: dict[str, object] = {
        "correlation_id": correlation_id.get(),
        "http_method": method,
        "http_route": route,
        "http_status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        extra["trace_id"] = format(span.trace_id, "032x")
    if client:
        extra["client"] = client
    if subject and subject != client:
        extra["subject"] = subject
    if legal_entities:
        extra["legal_entities"] = legal_entities
    _access.info("%s %s %s", method, route, status, extra=extra)


class CorrelationMiddleware(ASGIMiddleware):
    """Accept or mint `X-Correlation-ID`, echo it back, and (with `access_log`) log the request."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, service: str, *, access_log: bool = False) -> None:
        self.service = service
        self.access_log = access_log

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        cid: str | None = None
        for header, value in scope["headers"]:
            if header == _HEADER:
                cid = value.decode("latin-1")[:_MAX_ID]
                break
        cid = cid or new_correlation_id()
        token = correlation_id.set(cid)
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute(CORRELATION_ATTRIBUTE, cid)
        state = scope.setdefault("state", {})
        state["correlation_id"] = cid
        echo = (_HEADER, cid.encode("latin-1"))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), echo]
            await send(message)

        try:
            await next_app(scope, receive, send_with_id)
        finally:
            if self.access_log:
                claims = state.get("claims")
                log_access(
                    method=str(scope.get("method", "GET")),
                    route=str(scope.get("path_template") or scope.get("path", "")),
                    status=status,
                    started=started,
                    client=getattr(claims, "client_id", None),
                    subject=getattr(claims, "subject", None),
                    legal_entities=",".join(sorted(claims.legal_entities)) if claims is not None else None,
                )
            correlation_id.reset(token)
