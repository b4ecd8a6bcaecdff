"""OpenTelemetry set-up: traces and metrics, configured by the standard `OTEL_*` variables.

One call per process (`setup_telemetry`). What it installs:

- a tracer provider always (trace ids exist and travel even when nothing is exported); its sampler
  comes from `OTEL_TRACES_SAMPLER`/`OTEL_TRACES_SAMPLER_ARG` and its resource from
  `OTEL_SERVICE_NAME`/`OTEL_RESOURCE_ATTRIBUTES`, read by the SDK itself;
- with an exporter (`FIG_OTEL_EXPORTER`, or `OTEL_TRACES_EXPORTER` when that is unset): `otlp`
  sends spans (and metrics) with the SDK's OTLP exporters, whose endpoint, headers, timeout and
  compression come from `OTEL_EXPORTER_OTLP_*`; `OTEL_EXPORTER_OTLP_PROTOCOL` (or its `_TRACES_`/
  `_METRICS_` form) picks `grpc` or `http/protobuf`; `console` prints spans;
- with an exporter, the instrumentation of the libraries the services use (Redis commands, log
  records carrying the span's ids); the ASGI server spans and aiohttp client spans are installed
  by the app factory and the HTTP clients when `Telemetry.tracing` says so;
- a meter provider with a Prometheus reader (served at `/metrics`) unless `FIG_METRICS=false`.

The SDK logs and ignores a value it does not understand (an unknown sampler becomes the default);
here such a value stops the service at start-up with a `SettingsError` naming the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry import metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

from servicekit.settings import SettingsError

__all__ = ["EXPORTERS", "Telemetry", "check_otel_environment", "setup_telemetry", "telemetry"]

#: What `FIG_OTEL_EXPORTER` (or `OTEL_TRACES_EXPORTER`) may say.
EXPORTERS = ("none", "console", "otlp")
_SAMPLERS = frozenset(
    {
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    }
)
_PROTOCOLS = frozenset({"grpc", "http/protobuf"})
_PROPAGATORS = frozenset({"tracecontext", "baggage", "none"})
_SEMCONV = "OTEL_SEMCONV_STABILITY_OPT_IN"


@dataclass(frozen=True)
class Telemetry:
    """What this process has installed. `tracing`: spans are exported, so instrument the hops."""

    service: str
    exporter: str
    tracing: bool
    metrics: bool


_current: Telemetry | None = None


def telemetry() -> Telemetry:
    """The process's telemetry (tracing and metrics off until `setup_telemetry` ran)."""
    return _current or Telemetry(service="", exporter="none", tracing=False, metrics=False)


def _fail(name: str, value: str, expected: str) -> SettingsError:
    return SettingsError(f"{name} (got {value!r}): expected {expected}")


def check_otel_environment(env: Mapping[str, str], fig_exporter: str | None = None) -> str:
    """Validate the `OTEL_*` variables this project relies on; the effective exporter name.

    Raises SettingsError naming the first variable whose value is not understood.
    """
    exporter = fig_exporter
    if exporter is None:
        exporter = env.get("OTEL_TRACES_EXPORTER", "none").strip().lower() or "none"
        if exporter not in EXPORTERS:
            raise _fail("OTEL_TRACES_EXPORTER", exporter, "one of " + ", ".join(EXPORTERS))
    elif exporter not in EXPORTERS:
        raise _fail("FIG_OTEL_EXPORTER", exporter, "one of " + ", ".join(EXPORTERS))
    sampler = env.get("OTEL_TRACES_SAMPLER")
    if sampler is not None and sampler.strip().lower() not in _SAMPLERS:
        raise _fail("OTEL_TRACES_SAMPLER", sampler, "one of " + ", ".join(sorted(_SAMPLERS)))
    arg = env.get("OTEL_TRACES_SAMPLER_ARG")
    if arg is not None and (sampler or "").strip().lower().endswith("traceidratio"):
        try:
            ratio = float(arg)
        except ValueError:
            raise _fail("OTEL_TRACES_SAMPLER_ARG", arg, "a ratio between 0 and 1") from None
        if not 0.0 <= ratio <= 1.0:
            raise _fail("OTEL_TRACES_SAMPLER_ARG", arg, "a ratio between 0 and 1")
    for signal in ("", "TRACES_", "METRICS_"):
        name = f"OTEL_EXPORTER_OTLP_{signal}PROTOCOL"
        value = env.get(name)
        if value is not None and value.strip() not in _PROTOCOLS:
            raise _fail(name, value, "grpc or http/protobuf")
        name = f"OTEL_EXPORTER_OTLP_{signal}ENDPOINT"
        value = env.get(name)
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise _fail(name, value, "an http:// or https:// URL")
    metrics_exporter = env.get("OTEL_METRICS_EXPORTER")
    if metrics_exporter is not None and metrics_exporter.strip().lower() not in ("otlp", "prometheus", "none"):
        raise _fail("OTEL_METRICS_EXPORTER", metrics_exporter, "otlp, prometheus or none")
    propagators = env.get("OTEL_PROPAGATORS")
    if propagators is not None:
        for item in propagators.split(","):
            if item.strip().lower() not in _PROPAGATORS:
                raise _fail("OTEL_PROPAGATORS", propagators, "a list of tracecontext, baggage")
    return exporter


def _protocol(env: Mapping[str, str], signal: str) -> str:
    return (
        env.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    ).strip()


def _span_exporter(exporter: str, env: Mapping[str, str]) -> SpanExporter:
    if exporter == "console":
        return ConsoleSpanExporter()
    if _protocol(env, "TRACES") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter

        return GrpcSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _otlp_metric_reader(env: Mapping[str, str]) -> MetricReader:
    if _protocol(env, "METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return PeriodicExportingMetricReader(GrpcMetricExporter())
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return PeriodicExportingMetricReader(OTLPMetricExporter())


def setup_telemetry(
    service_name: str,
    exporter: str | None = None,
    *,
    enable_metrics: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """Install the process-wide providers once (later calls return the first result).

    `exporter`: `FIG_OTEL_EXPORTER` (None: `OTEL_TRACES_EXPORTER`, else none). `OTEL_SERVICE_NAME`
    overrides `service_name` in the resource, as the SDK defines.
    """
    global _current  # noqa: PLW0603 - one provider per process, by OpenTelemetry's design
    env = os.environ if environ is None else environ
    chosen = check_otel_environment(env, exporter)
    if _current is not None:
        return _current
    # The stable HTTP semantic conventions (`http.server.request.duration` in seconds, ...).
    os.environ.setdefault(_SEMCONV, "http")
    resource = Resource.create({"service.name": service_name}) if "OTEL_SERVICE_NAME" not in env else Resource.create()
    tracing = chosen != "none"
    # No sampler argument: the SDK reads OTEL_TRACES_SAMPLER(_ARG) itself (checked above).
    provider = TracerProvider(resource=resource)
    if tracing:
        provider.add_span_processor(BatchSpanProcessor(_span_exporter(chosen, env)))
    trace.set_tracer_provider(provider)
    with_metrics = enable_metrics and env.get("OTEL_METRICS_EXPORTER", "").strip().lower() != "none"
    if with_metrics:
        readers: list[MetricReader] = [PrometheusMetricReader()]
        if chosen == "otlp":
            readers.append(_otlp_metric_reader(env))
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    if tracing:
        _instrument_libraries(provider)
    _current = Telemetry(service=service_name, exporter=chosen, tracing=tracing, metrics=with_metrics)
    return _current


def _instrument_libraries(provider: TracerProvider) -> None:
    """Redis command spans (database semantic conventions) and span ids on every log record."""
    from opentelemetry.instrumentation.logging import LoggingInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor().instrument(tracer_provider=provider)
    LoggingInstrumentor().instrument(tracer_provider=provider, set_logging_format=False)
