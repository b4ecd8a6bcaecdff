"""The gateway's spans and metrics, kept off the hot path unless switched on.

Tracing (`FIG_OTEL_EXPORTER`/`OTEL_TRACES_EXPORTER` not `none`): the OpenTelemetry ASGI
instrumentation wraps the fast path (`gateway.fastpath.FastPath.enter`) and opens the SERVER span;
`Gateway` adds the policy outcome to it and opens a CLIENT span around the upstream call whose
`traceparent` the upstream continues. With tracing off neither is installed: `FastPath.enter` is
the plain `forward` and `GatewayTelemetry.tracing` is False, so a request pays nothing for it.

Metrics (`FIG_METRICS`, on by default): `http_server_request_duration_seconds` per route,
status, upstream and outcome (one histogram observation per request), refusals by policy and
reason, rate-limit refusals, idempotent replays (recorded only when they happen).

The per-request histogram is a `prometheus_client` histogram, not an OpenTelemetry instrument:
the SDK's `Histogram.record` took about 25 times as long per call as observing a cached
`prometheus_client` child on this machine, and it runs for every proxied request. It is served
at `/metrics` beside the OpenTelemetry metrics (same registry), under the semantic-convention
name; the gateway's own Litestar routes therefore record no OpenTelemetry server duration.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.metrics import NoOpMeterProvider
from prometheus_client import REGISTRY, Histogram

from servicekit.telemetry import telemetry

__all__ = ["GatewayTelemetry", "traced"]

_LABELS = ("http_request_method", "http_route", "http_response_status_code", "fig_upstream", "fig_gateway_outcome")
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
        self._duration = _duration_histogram() if self.metrics else None
        self._children: dict[tuple[str, str, int, str, str], Any] = {}
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

    def observe(self, seconds: float, key: tuple[str, str, int, str, str]) -> None:
        """One proxied request's duration; `key`: method, route template, status, upstream, outcome.

        Label children are cached, so a request costs one dict lookup and one observation.
        """
        child = self._children.get(key)
        if child is None:
            assert self._duration is not None  # only called with metrics on
            child = self._children[key] = self._duration.labels(*key)
        child.observe(seconds)


_histogram: Histogram | None = None


def _duration_histogram() -> Histogram:
    """The process's one proxied-request histogram (registered once, whatever the number of apps)."""
    global _histogram  # noqa: PLW0603 - one collector per registry and process
    if _histogram is None:
        _histogram = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (proxied paths, per route template, status and upstream).",
            _LABELS,
            buckets=_BUCKETS,
            registry=REGISTRY,
        )
    return _histogram
