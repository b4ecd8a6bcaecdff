"""The gateway's spans and metrics, kept off the hot path unless switched on.

Tracing (`FIG_OTEL_EXPORTER`/`OTEL_TRACES_EXPORTER` not `none`): the OpenTelemetry ASGI
instrumentation wraps the fast path (`gateway.fastpath.FastPath.enter`) and opens the SERVER span;
`Gateway` adds the policy outcome to it and opens a CLIENT span around the upstream call whose
`traceparent` the upstream continues. With tracing off neither is installed: `FastPath.enter` is
the plain `forward` and `GatewayTelemetry.tracing` is False, so a request pays nothing for it.

Metrics (`FIG_METRICS`, on by default): `http.server.request.duration` per route and upstream
(one histogram record per request), refusals by policy and reason, rate-limit refusals,
idempotent replays (recorded only when they happen).
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider

from servicekit.telemetry import telemetry

__all__ = ["GatewayTelemetry", "traced"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _span_details(scope: Any) -> tuple[str, dict[str, Any]]:
    # The route template is known only after the route table resolved it; `Gateway` renames the span.
    return str(scope.get("method", "HTTP")), {}


def traced(forward: Any) -> Any:
    """`forward` wrapped in the ASGI instrumentation when tracing is on, else `forward` itself."""
    if not telemetry().tracing:
        return forward
    # The gateway records its own request durations (with the route template), so not twice.
    return OpenTelemetryMiddleware(
        forward,
        default_span_details=_span_details,
        exclude_spans=["receive", "send"],
        meter_provider=NoOpMeterProvider(),
    )


class GatewayTelemetry:
    """The instruments the gateway records into; `tracing`/`metrics` say which are live."""

    def __init__(self) -> None:
        current = telemetry()
        self.tracing = current.tracing
        self.metrics = current.metrics
        self.tracer = trace.get_tracer("gateway")
        meter = metrics.get_meter("gateway")
        self.duration = meter.create_histogram(
            "http.server.request.duration",
            unit="s",
            description="Duration of HTTP server requests (proxied paths, per route template and upstream).",
            explicit_bucket_boundaries_advisory=_BUCKETS,
        )
        self.refusals = meter.create_counter(
            "fig.gateway.refusals",
            unit="{request}",
            description="Requests the policy chain refused, by policy and reason.",
        )
        self.rate_limited = meter.create_counter(
            "fig.gateway.rate_limit.refusals",
            unit="{request}",
            description="Rate-limit decisions that refused a request, by client and route.",
        )
        self.replays = meter.create_counter(
            "fig.gateway.idempotent.replays",
            unit="{request}",
            description="Stored answers replayed for an Idempotency-Key.",
        )
