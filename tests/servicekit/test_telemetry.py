"""Telemetry is configured by the standard OTEL_* variables; OTLP export really sends spans.

Each export case runs a service in its own process (one tracer provider per process, as
OpenTelemetry defines), pointed at an OTLP receiver started by the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from servicekit import ServiceSettings, SettingsError, load_settings
from servicekit.telemetry import check_otel_environment
from tests.otlp import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]
#: One real service (built by the shared app factory, named `idp`, no Redis and no token needed),
#: one request, then a clean exit (spans flushed).
SCRIPT = """
from litestar import get
from litestar.testing import TestClient
from servicekit import ServiceSettings, create_service_app, load_settings

@get("/.well-known/jwks.json", operation_id="jwks", sync_to_thread=False)
def jwks() -> dict[str, list[str]]:
    return {"keys": []}

settings = load_settings(ServiceSettings)
app = create_service_app(name="idp", settings=settings, route_handlers=[jwks], use_redis=False, auth=False)
with TestClient(app) as client:
    assert client.get("/.well-known/jwks.json").status_code == 200
"""


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def run_service(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "FIG_"))}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_otlp_exporter_sends_the_server_span(receiver: OtlpReceiver, protocol: str) -> None:
    endpoint = receiver.url if protocol == "http/protobuf" else receiver.grpc_url
    done = run_service(
        {
            "FIG_OTEL_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_SERVICE_NAME": "idp-under-test",
        }
    )
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(lambda spans: any(s.kind == "SERVER" for s in spans))
    server = next(s for s in spans if s.kind == "SERVER")
    assert server.service == "idp-under-test"
    assert server.name == "GET /.well-known/jwks.json"
    assert server.attributes["http.route"] == "/.well-known/jwks.json"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["fig.correlation_id"]


def test_the_standard_traces_exporter_variable_is_honoured(receiver: OtlpReceiver) -> None:
    done = run_service({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url})
    assert done.returncode == 0, done.stderr
    spans = receiver.wait_for(lambda spans: any(s.kind == "SERVER" for s in spans))
    assert {s.service for s in spans} == {"idp"}


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_SAMPLER_ARG", "lots"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
        ("OTEL_TRACES_EXPORTER", "jaeger"),
    ],
)
def test_a_value_not_understood_stops_the_service_naming_the_variable(variable: str, value: str) -> None:
    env = {variable: value}
    if variable == "OTEL_TRACES_SAMPLER_ARG":
        env["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
    done = run_service(env)
    assert done.returncode != 0
    assert variable in done.stderr
    assert repr(value) in done.stderr
    with pytest.raises(SettingsError, match=variable):
        check_otel_environment(env)


def test_the_project_exporter_setting_accepts_only_what_it_implements() -> None:
    assert load_settings(ServiceSettings, {"FIG_OTEL_EXPORTER": "otlp"}).otel_exporter == "otlp"
    with pytest.raises(SettingsError, match="FIG_OTEL_EXPORTER"):
        load_settings(ServiceSettings, {"FIG_OTEL_EXPORTER": "zipkin"})


def test_a_ratio_sampler_with_its_argument_is_accepted() -> None:
    env = {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
    assert check_otel_environment(env, "otlp") == "otlp"
