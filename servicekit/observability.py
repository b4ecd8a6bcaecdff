"""What every service gets for operations: server spans, correlation, access log and `/metrics`.

`ObservabilityPlugin` is a Litestar init plugin, so the app factory and the sandboxes (plain
Litestar apps) install the same things the same way:

- the OpenTelemetry ASGI instrumentation (Litestar's `OpenTelemetryPlugin` middleware): one server
  span per request named `METHOD /route/{template}`, the caller's `traceparent` continued, and the
  `http.server.request.duration` histogram per route;
- `CorrelationMiddleware` inside it (correlation id, and the access log unless `FIG_ACCESS_LOG=false`);
- `GET /metrics`: the Prometheus text format of this process's OpenTelemetry metrics, outside the
  OpenAPI document and the bearer-token check (the gateway never forwards it: it is not versioned).
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.config.app import AppConfig
from litestar.middleware.base import DefineMiddleware
from litestar.plugins import InitPlugin
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryInstrumentationMiddleware
from litestar.types import Middleware, Scope
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.semconv.attributes.http_attributes import HTTP_ROUTE
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from servicekit.middleware import CorrelationMiddleware
from servicekit.settings import ServiceSettings
from servicekit.telemetry import setup_telemetry

__all__ = ["METRICS_PATH", "ObservabilityPlugin", "metrics_handler", "span_details"]

METRICS_PATH = "/metrics"
#: Not traced: probes and scrapes would bury the requests that matter.
_UNTRACED = ["^/health/", "^/metrics$"]


@get(METRICS_PATH, include_in_schema=False, sync_to_thread=False, media_type=CONTENT_TYPE_LATEST)
def metrics_handler() -> Response[bytes]:
    """The process's metrics in the Prometheus text exposition format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Server span name and `http.route`: the route template, never the concrete path (cardinality)."""
    method = str(scope.get("method", "")).strip()
    route = scope.get("path_template") or scope.get("path", "")
    return (f"{method} {route}" if method else str(route)), {HTTP_ROUTE: route}


class ObservabilityPlugin(InitPlugin):
    """Telemetry set-up plus the middleware and `/metrics` route described in the module docstring."""

    def __init__(self, service: str, settings: ServiceSettings, *, server_metrics: bool = True) -> None:
        """`server_metrics=False`: the service records its HTTP server durations itself (the gateway)."""
        self.service = service
        self.settings = settings
        self.server_metrics = server_metrics
        self.telemetry = setup_telemetry(service, settings.otel_exporter, enable_metrics=settings.metrics)

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        config = OpenTelemetryConfig(
            scope_span_details_extractor=span_details,
            exclude=_UNTRACED,
            exclude_spans=["receive", "send"],
            meter_provider=None if self.server_metrics else NoOpMeterProvider(),
        )
        own: list[Middleware] = [
            DefineMiddleware(OpenTelemetryInstrumentationMiddleware, config=config),
            CorrelationMiddleware(self.service, access_log=self.settings.access_log),
        ]
        app_config.middleware = [*own, *app_config.middleware]
        if self.telemetry.metrics:
            app_config.route_handlers = [*app_config.route_handlers, metrics_handler]
        return app_config
