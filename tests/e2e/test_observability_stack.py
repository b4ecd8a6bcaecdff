"""One demo run on the real stack is one trace across every hop, and every service's metrics move.

The stack exports with OTLP (HTTP/protobuf) to a receiver started by the test; the spans are
decoded with `opentelemetry-proto`. Then each service's `/metrics` is read with
`prometheus_client`'s parser before and after the demo.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from deploy.demo import DemoUrls, run_demo
from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_ports
from tests.deploy.test_observability import referenced_metrics
from tests.otlp import ExportedSpan, OtlpReceiver

pytestmark = pytest.mark.e2e

EVERY_HOP = {
    "gateway",
    "process-api",
    "crm",
    "erp",
    "planning",
    "salesforce-sandbox",
    "netsuite-sandbox",
    "anaplan-sandbox",
}
#: Metrics that exist only once their event happened (the demo refuses, replays and fails nothing).
EVENT_ONLY = {
    "fig_gateway_refusals_total",
    "fig_gateway_rate_limit_refusals_total",
    "fig_gateway_idempotent_replays_total",
    "fig_redis_errors_total",
    "fig_exceptions",
}
RUN_ATTRIBUTES = ("fig.correlation_id", "fig.legal_entity", "fig.workflow", "fig.run_id", "fig.gate")


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: OtlpReceiver) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    env = {
        "FIG_OTEL_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "FIG_METRICS_INTERVAL": "0.5",
        # The run is started through the gateway. With CRM events consumed too, the feed's approval
        # event may create it first (then the trace begins at the feed and the API call finds the run).
        "FIG_CONSUME_CRM_EVENTS": "false",
    }
    with Stack(Path(tmp_path_factory.mktemp("stack")), ports=ports, extra_env=env) as running:
        yield running


def scrape(stack: Stack) -> dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """Every service's samples: name and sorted labels -> value (parsed by prometheus_client)."""
    found: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for spec in SERVICES:
        response = httpx.get(f"{stack.url(spec.name)}/metrics", timeout=10)
        assert response.status_code == 200, (spec.name, response.text)
        assert response.headers["content-type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
        found[spec.name] = samples
    return found


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, pairs), value in samples.items()
        if sample == name and all((k, v) in pairs for k, v in labels.items())
    )


@pytest.fixture(scope="module")
def demo(stack: Stack) -> tuple[dict[str, object], dict[str, dict], dict[str, dict]]:  # type: ignore[type-arg]
    before = scrape(stack)
    urls = DemoUrls(
        gateway=stack.url("gateway"),
        idp=stack.url("idp"),
        salesforce=stack.url("salesforce-sandbox"),
        netsuite=stack.url("netsuite-sandbox"),
        anaplan=stack.url("anaplan-sandbox"),
    )
    run = run_demo(urls, Console(file=io.StringIO()), client_secret=stack.credentials.client_secret("demo"))
    return run, before, scrape(stack)


def run_trace(receiver: OtlpReceiver, run_id: str) -> list[ExportedSpan]:
    """The spans of the trace the run's spans belong to, once every hop has exported into it."""

    def complete(spans: list[ExportedSpan]) -> bool:
        ids = {s.trace_id for s in spans if s.attributes.get("fig.run_id") == run_id}
        if len(ids) != 1:
            return False
        trace_id = ids.pop()
        mine = [s for s in spans if s.trace_id == trace_id]
        return {s.service for s in mine} >= EVERY_HOP and any(s.name == "q2c.gate completed" for s in mine)

    try:
        receiver.wait_for(complete, timeout=30)
    except AssertionError:
        spans = receiver.snapshot()
        ids = {s.trace_id for s in spans if s.attributes.get("fig.run_id") == run_id}
        shape = {t: sorted({(s.service, s.name) for s in spans if s.trace_id == t})[:40] for t in ids}
        raise AssertionError(f"the run's trace never completed: {shape}") from None
    trace_ids = {s.trace_id for s in receiver.snapshot() if s.attributes.get("fig.run_id") == run_id}
    assert len(trace_ids) == 1, f"the run's spans are spread over {len(trace_ids)} traces"
    return list(receiver.by_trace(trace_ids.pop()))


def test_one_demo_run_is_one_trace_across_every_hop(receiver: OtlpReceiver, demo: tuple) -> None:  # type: ignore[type-arg]
    run = demo[0]
    assert isinstance(run, dict)
    spans = run_trace(receiver, str(run["id"]))
    by_id = {s.span_id: s for s in spans}

    assert {s.service for s in spans} >= EVERY_HOP
    # Parent/child links hold: every span's parent is in the trace, except the one root.
    roots = [s for s in spans if not s.parent_id]
    assert len(roots) == 1, [(s.service, s.name) for s in roots]
    missing = [(s.service, s.name) for s in spans if s.parent_id and s.parent_id not in by_id]
    assert not missing, missing
    root = roots[0]
    assert (root.service, root.kind, root.name) == ("gateway", "SERVER", "POST /v1/quote-to-cash/runs"), root
    assert root.attributes["fig.gateway.outcome"] == "forwarded"
    assert root.attributes["http.route"] == "/v1/quote-to-cash/runs"

    # Across HTTP: gateway CLIENT -> process SERVER; process CLIENT -> system API SERVER -> sandbox SERVER.
    process_server = next(s for s in spans if s.service == "process-api" and s.kind == "SERVER")
    gateway_client = by_id[process_server.parent_id]
    assert (gateway_client.service, gateway_client.kind) == ("gateway", "CLIENT")
    assert gateway_client.attributes["fig.upstream"] == "process"
    for system, sandbox in (
        ("crm", "salesforce-sandbox"),
        ("erp", "netsuite-sandbox"),
        ("planning", "anaplan-sandbox"),
    ):
        server = next(s for s in spans if s.service == system and s.kind == "SERVER")
        client = by_id[server.parent_id]
        assert (client.service, client.kind) == ("process-api", "CLIENT"), system
        assert client.attributes["server.port"]
        assert client.attributes["http.response.status_code"] < 500
        vendor = next(s for s in spans if s.service == sandbox and s.kind == "SERVER")
        assert by_id[vendor.parent_id].service == system

    # Across Redis Streams: the work item's CONSUMER span is the child of the span that published it
    # (the process API's request), and the run's drive continues under it.
    consumer = next(s for s in spans if s.kind == "CONSUMER" and s.attributes.get("messaging.destination.name"))
    assert by_id[consumer.parent_id].service == "process-api"
    assert consumer.attributes["messaging.system"] == "redis"
    drives = [s for s in spans if s.name == "q2c.advance"]
    assert any(d.parent_id == consumer.span_id for d in drives)

    # Every gate span of the run carries the run's attributes.
    gates = [s for s in spans if s.name.startswith("q2c.gate ")]
    assert {g.attributes["fig.gate"] for g in gates} >= {"validated", "order_created", "completed"}
    for gate in gates:
        for attribute in RUN_ATTRIBUTES:
            assert gate.attributes.get(attribute), (gate.name, attribute)
        assert gate.attributes["fig.run_id"] == run["id"]
        assert gate.attributes["fig.legal_entity"] == run["legal_entity"]
    # Vendor calls: one span per logical call with vendor and operation; Salesforce reports its limit.
    vendors = {s.attributes["fig.vendor"]: s for s in spans if "fig.vendor" in s.attributes}
    assert set(vendors) == {"salesforce", "netsuite", "anaplan"}
    assert all(v.attributes["fig.vendor.operation"] for v in vendors.values())
    assert any(
        s.attributes.get("fig.vendor") == "salesforce" and s.attributes.get("fig.vendor.limit_remaining", 0) > 0
        for s in spans
    )
    # Redis commands are spans with the database semantic conventions.
    assert any(s.attributes.get("db.system") == "redis" or s.attributes.get("db.system.name") == "redis" for s in spans)


def test_every_service_serves_metrics_that_move_with_the_demo(demo: tuple) -> None:  # type: ignore[type-arg]
    run, before, after = demo
    assert isinstance(run, dict)
    assert set(after) == {spec.name for spec in SERVICES}
    # One more started run through the gateway: one more POST answered on that route.
    route = {"http_route": "/v1/quote-to-cash/runs", "http_request_method": "POST"}
    name = "http_server_request_duration_seconds_count"
    assert total(after["gateway"], name, **route) == total(before["gateway"], name, **route) + 1
    # One more completed run, for the run's workflow and legal entity.
    completed = {
        "fig_workflow": "quote_to_cash",
        "fig_outcome": "completed",
        "fig_legal_entity": str(run["legal_entity"]),
    }
    assert (
        total(after["process"], "fig_workflow_runs_total", **completed)
        == total(before["process"], "fig_workflow_runs_total", **completed) + 1
    )
    # Every system API answered more requests, and the process API made more client calls.
    for system in ("crm", "erp", "planning"):
        assert total(after[system], name) > total(before[system], name), system
    client = "http_client_request_duration_seconds_count"
    assert total(after["process"], client) > total(before["process"], client)
    # Gate durations per workflow, gate and entity; stream depths; feed lag; the vendor's allocation.
    gate = {"fig_workflow": "quote_to_cash", "fig_gate": "completed"}
    assert (
        total(after["process"], "fig_workflow_gate_duration_seconds_count", **gate)
        == total(before["process"], "fig_workflow_gate_duration_seconds_count", **gate) + 1
    )
    assert any(
        name == "fig_stream_depth" and ("messaging_destination_name", "fig:q2c:work") in labels
        for name, labels in after["process"]
    )
    assert any(name == "fig_stream_dead_letter_depth" for name, _ in after["process"])
    assert any(name == "fig_changefeed_lag_seconds" for name, _ in after["crm"])
    assert any(name == "fig_changefeed_lag_seconds" for name, _ in after["erp"])
    assert total(after["crm"], "fig_vendor_api_limit_remaining", fig_vendor="salesforce") > 0


def test_the_alerts_and_the_dashboard_query_metrics_the_services_serve(demo: tuple) -> None:  # type: ignore[type-arg]
    served = {name for samples in demo[2].values() for name, _ in samples}
    served |= {name.removesuffix(suffix) for name in served for suffix in ("_bucket", "_count", "_sum")}
    missing = referenced_metrics() - served - EVENT_ONLY
    assert not missing, f"queried but never served: {sorted(missing)}"


def test_a_refusal_is_a_gateway_span_with_the_policy_outcome(stack: Stack, receiver: OtlpReceiver) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    answer = httpx.get(f"{stack.url('gateway')}/v1/quote-to-cash/runs/q2c-x", headers=headers, timeout=10)
    assert answer.status_code == 401
    spans = receiver.wait_for(
        lambda spans: (
            {"SERVER", "EVALSHA"} <= {s.kind if s.kind == "SERVER" else s.name for s in spans if s.trace_id == trace_id}
        )
    )
    server = next(s for s in spans if s.trace_id == trace_id and s.kind == "SERVER")
    assert server.service == "gateway"
    assert server.parent_id == "00f067aa0ba902b7"
    assert server.name == "GET /v1/quote-to-cash/runs/{run_id}"
    assert server.attributes["fig.gateway.outcome"] == "refused"
    assert server.attributes["fig.gateway.policy"] == "authentication"
    assert server.attributes["fig.gateway.reason"] == "missing-token"
    assert server.attributes["http.response.status_code"] == 401
    # Refused before any upstream: no HTTP client span in that trace, but the audit chain's append
    # (one compare-and-append script; a missing token reaches no rate-limit script).
    clients = [s for s in receiver.by_trace(trace_id) if s.kind == "CLIENT" and s.service == "gateway"]
    assert not [s for s in clients if "http.request.method" in s.attributes]
    assert any(s.name == "EVALSHA" for s in clients)
