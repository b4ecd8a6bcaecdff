"""OpenTelemetry tracing: a real SDK tracer provider so trace ids exist even without an exporter."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

__all__ = ["setup_tracing"]

_configured = False


def setup_tracing(service_name: str, exporter: str = "none") -> None:
    """Install the process-wide tracer provider once. `exporter`: `none` or `console`.

    An OTLP exporter can be added by installing `opentelemetry-exporter-otlp` and setting the
    standard `OTEL_*` variables; the provider here is what it would attach to.
    """
    global _configured  # noqa: PLW0603 - one provider per process, by OpenTelemetry's design
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True
