"""HTTP client spans and the client duration histogram for aiohttp sessions (service calls, forwarding).

OpenTelemetry's `opentelemetry-instrumentation-aiohttp-client` is not published in a version that
matches the SDK this project locks (its newest release pins an older semantic-conventions package),
so the same thing is done here at aiohttp's public seam, `aiohttp.TraceConfig`, following the HTTP
client semantic conventions: a CLIENT span `METHOD` per request with `http.request.method`,
`server.address`, `server.port`, `url.full`, `http.response.status_code` and `error.type`, and its
`traceparent` injected into the outgoing headers so the next hop's server span is its child; and
the `http.client.request.duration` histogram (seconds).

`client_trace_configs()` is empty when neither tracing nor metrics is on, so a session built with
it pays nothing then.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
from opentelemetry import context as otel_context
from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from servicekit.telemetry import telemetry

__all__ = ["client_trace_configs", "vendor_call", "vendor_limit_remaining"]

_tracer = trace.get_tracer("servicekit.http")
_limit_remaining = metrics.get_meter("servicekit.http").create_gauge(
    "fig.vendor.api_limit.remaining", unit="{call}", description="API calls the vendor says are left (its own count)."
)
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


def _attributes(method: str, url: Any) -> dict[str, Any]:
    return {"http.request.method": method, "server.address": url.host or "", "server.port": url.port or 0}


def client_trace_configs() -> list[aiohttp.TraceConfig]:
    """TraceConfigs for a new `aiohttp.ClientSession` (an empty list when telemetry is off)."""
    current = telemetry()
    if not current.tracing and not current.metrics:
        return []
    tracing = current.tracing
    duration = metrics.get_meter("servicekit.http").create_histogram(
        "http.client.request.duration",
        unit="s",
        description="Duration of HTTP client requests.",
        explicit_bucket_boundaries_advisory=_BUCKETS,
    )
    config = aiohttp.TraceConfig()

    async def on_start(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestStartParams) -> None:
        ctx.started = time.perf_counter()
        ctx.attributes = _attributes(params.method, params.url)
        ctx.span = None
        if tracing:
            span = _tracer.start_span(params.method, kind=SpanKind.CLIENT, attributes=ctx.attributes)
            if span.is_recording():
                span.set_attribute("url.full", str(params.url.with_query(None)))
            ctx.span = span
            propagate.inject(params.headers, context=trace.set_span_in_context(span, otel_context.get_current()))

    async def on_end(_: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestEndParams) -> None:
        status = params.response.status
        attributes = {**ctx.attributes, "http.response.status_code": status}
        if status >= 500:
            attributes["error.type"] = str(status)
        duration.record(time.perf_counter() - ctx.started, attributes)
        if ctx.span is not None:
            ctx.span.set_attribute("http.response.status_code", status)
            if status >= 500:
                ctx.span.set_status(Status(StatusCode.ERROR))
                ctx.span.set_attribute("error.type", str(status))
            ctx.span.end()

    async def on_error(
        _: aiohttp.ClientSession, ctx: SimpleNamespace, params: aiohttp.TraceRequestExceptionParams
    ) -> None:
        error = type(params.exception).__qualname__
        duration.record(time.perf_counter() - ctx.started, {**ctx.attributes, "error.type": error})
        if ctx.span is not None:
            ctx.span.record_exception(params.exception)
            ctx.span.set_status(Status(StatusCode.ERROR, error))
            ctx.span.set_attribute("error.type", error)
            ctx.span.end()

    config.on_request_start.append(on_start)
    config.on_request_end.append(on_end)
    config.on_request_exception.append(on_error)
    config.freeze()
    return [config]


@contextmanager
def vendor_call(vendor: str, operation: str) -> Iterator[Span]:
    """An INTERNAL span `vendor <vendor>` around one logical vendor call (its retries and re-auth
    included), with `fig.vendor` and `fig.vendor.operation`; a non-recording span when tracing is off."""
    if not telemetry().tracing:
        yield INVALID_SPAN
        return
    attributes = {"fig.vendor": vendor, "fig.vendor.operation": operation}
    with _tracer.start_as_current_span(f"vendor {vendor}", attributes=attributes) as span:
        yield span


def vendor_limit_remaining(vendor: str, remaining: int, span: Span | None = None) -> None:
    """Record what the vendor reported as left of its API allocation (gauge, and on `span`)."""
    _limit_remaining.set(remaining, {"fig.vendor": vendor})
    if span is not None and span.is_recording():
        span.set_attribute("fig.vendor.limit_remaining", remaining)
