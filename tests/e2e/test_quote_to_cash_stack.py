"""The whole stack as separate processes: the demo flow through the gateway, and bad input refused.

Starts Redis, three sandboxes, three system APIs, the process API, the IdP and the gateway on free
ports (exactly what `fig up` runs), then talks to them over HTTP like a client integration would.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from cloudevents.v1.http import from_json

from contracts.streams import CRM_EVENTS, ERP_EVENTS, FINANCE_EVENTS
from deploy.demo import DEMO_OPPORTUNITY, DemoUrls, fetch_token, run_demo
from deploy.services import SERVICES
from deploy.stack import Stack
from process_apis.workflows.store import WORK_STREAM
from servicekit.redis import free_ports
from servicekit.streams import EVENT_FIELD
from tests.gateway.people import sign_in

pytestmark = pytest.mark.e2e

ORDER_EXTERNAL_ID = f"SF-{DEMO_OPPORTUNITY}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    # As `fig up` runs it: the sandboxes serve HTTPS with the local CA, the system APIs trust it.
    with Stack(Path(tmp_path_factory.mktemp("stack")), ports=ports, https=True) as running:
        yield running


@pytest.fixture(scope="module")
def urls(stack: Stack) -> DemoUrls:
    return DemoUrls(
        gateway=stack.url("gateway"),
        idp=stack.url("idp"),
        salesforce=stack.url("salesforce-sandbox"),
        netsuite=stack.url("netsuite-sandbox"),
        anaplan=stack.url("anaplan-sandbox"),
        ca_bundle=stack.ca_bundle,
    )


def _trust(urls: DemoUrls) -> ssl.SSLContext:
    assert urls.ca_bundle is not None
    return ssl.create_default_context(cafile=urls.ca_bundle)


def test_the_sandboxes_answer_over_https_with_the_local_ca(urls: DemoUrls) -> None:
    for base in (urls.salesforce, urls.netsuite, urls.anaplan):
        assert base.startswith("https://127.0.0.1:"), base
        assert httpx.get(f"{base}/health/live", verify=_trust(urls)).status_code == 200


def erp_orders(urls: DemoUrls) -> list[dict[str, object]]:
    response = httpx.get(
        f"{urls.netsuite}/__admin/sales-orders", params={"externalId": ORDER_EXTERNAL_ID}, verify=_trust(urls)
    )
    response.raise_for_status()
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    assert isinstance(items, list)
    return items


def post_run(urls: DemoUrls, token: str | None, body: object, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    # Starting a run is financially material: the gateway requires a key per intended start.
    headers["Idempotency-Key"] = uuid.uuid4().hex
    if raw is not None:
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{urls.gateway}/v1/quote-to-cash/runs", content=raw, headers=headers, timeout=30)
    return httpx.post(f"{urls.gateway}/v1/quote-to-cash/runs", json=body, headers=headers, timeout=30)


def assert_problem(response: httpx.Response, status: int, type_suffix: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["type"].endswith(type_suffix), body
    assert body["detail"]
    assert body["correlation_id"]


def test_bad_input_is_refused_with_distinct_problems_and_changes_nothing(stack: Stack, urls: DemoUrls) -> None:
    token = fetch_token(urls.idp, "demo", stack.credentials.client_secret("demo"))
    read_only = fetch_token(urls.idp, "demo", stack.credentials.client_secret("demo"), scope="q2c:read")

    assert_problem(post_run(urls, None, {"opportunity_id": DEMO_OPPORTUNITY}), 401, "/missing-token")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_problem(post_run(urls, tampered, {"opportunity_id": DEMO_OPPORTUNITY}), 401, "/invalid-token")
    assert_problem(post_run(urls, read_only, {"opportunity_id": DEMO_OPPORTUNITY}), 403, "/insufficient-scope")
    assert_problem(post_run(urls, token, None, raw=b'{"opportunity_id": '), 400, "/malformed-json")
    assert_problem(post_run(urls, token, {"opportunity_id": 42}), 400, "/invalid-request")
    assert_problem(post_run(urls, token, {"opportunity_id": "006000000000NOPEAA"}), 404, "/opportunity-not-found")
    # The demo opportunity is still in negotiation: not approved yet.
    unapproved = post_run(urls, token, {"opportunity_id": DEMO_OPPORTUNITY})
    assert_problem(unapproved, 422, "/opportunity-not-approved")

    assert erp_orders(urls) == []


def test_demo_drives_one_opportunity_to_forecast_and_a_second_start_posts_nothing(stack: Stack, urls: DemoUrls) -> None:
    run = run_demo(urls, client_secret=stack.credentials.client_secret("demo"))

    assert run["state"] == "completed"
    gates = [gate["gate"] for gate in run["gates"]]
    assert gates[-1] == "completed"
    for gate in ("validated", "customer_resolved", "order_created", "order_booked", "forecast_committed"):
        assert gate in gates
    assert run["planning"]["successful"] is True
    assert run["planning"]["rows_loaded"] == 2
    orders = erp_orders(urls)
    assert len(orders) == 1

    token = fetch_token(urls.idp, "demo", stack.credentials.client_secret("demo"))
    again = post_run(urls, token, {"opportunity_id": DEMO_OPPORTUNITY})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == run["id"]
    assert again.json()["state"] == "completed"
    assert len(erp_orders(urls)) == 1

    # A seeded person (password generated on the first run, as `fig up` prints it) signs in at the
    # IdP and reads the same run through the gateway; the IdP's admin endpoint wants its token.
    person = sign_in(urls.idp, "chris.controller", stack.credentials.passwords["chris.controller"])
    seen = httpx.get(
        f"{urls.gateway}/v2/quote-to-cash/runs/{run['id']}",
        headers={"Authorization": f"Bearer {person['access_token']}"},
        timeout=30,
    )
    assert seen.status_code == 200, seen.text
    assert httpx.post(f"{urls.idp}/__admin/rotate-key").status_code == 401

    cells = httpx.get(f"{urls.anaplan}/__admin/cells", params={"entity": "DE01"}, verify=_trust(urls)).json()
    rows = cells["cells"] if isinstance(cells, dict) else cells
    booked = [c for c in rows if str(c.get("booking_code", "")).startswith(f"SO{run['erp_order_id']}-")]
    assert sorted(str(c["amount"]) for c in booked) == ["12000.00", "2400.00"]


def test_a_de01_client_sees_and_changes_only_de01_through_the_gateway(stack: Stack, urls: DemoUrls) -> None:
    everyone = {"Authorization": f"Bearer {fetch_token(urls.idp, 'demo', stack.credentials.client_secret('demo'))}"}
    de01 = {
        "Authorization": f"Bearer {fetch_token(urls.idp, 'demo-de01', stack.credentials.client_secret('demo-de01'))}"
    }
    gateway = urls.gateway
    started = httpx.post(
        f"{gateway}/v1/reconciliations",
        json={"legal_entity": "US01", "period": "2026-11", "tolerance": "0.01"},
        headers={**everyone, "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert started.status_code == 201, started.text
    report = started.json()["id"]
    assert httpx.get(f"{gateway}/v1/reconciliations/{report}", headers=everyone, timeout=10).status_code == 200

    hidden = httpx.get(f"{gateway}/v1/reconciliations/{report}", headers=de01, timeout=10)
    assert_problem(hidden, 404, "/reconciliation-not-found")
    exceptions = httpx.get(f"{gateway}/v1/exceptions", headers=de01, timeout=10)
    assert exceptions.status_code == 200, exceptions.text
    assert all(item["legal_entity"] == "DE01" for item in exceptions.json()["items"])
    assert "US01" not in httpx.get(f"{gateway}/v1/ops/summary", headers=de01, timeout=10).text
    refused = httpx.get(f"{gateway}/v1/ops/summary", params={"legal_entity": "US01"}, headers=de01, timeout=10)
    assert_problem(refused, 403, "/entity-not-allowed")
    again = httpx.post(
        f"{gateway}/v1/reconciliations",
        json={"legal_entity": "US01", "period": "2026-11", "tolerance": "0.01"},
        headers={**de01, "Idempotency-Key": uuid.uuid4().hex},
        timeout=30,
    )
    assert_problem(again, 403, "/entity-not-allowed")


def test_a_mapping_change_proposed_through_the_gateway_takes_a_second_client_to_apply(
    stack: Stack, urls: DemoUrls
) -> None:
    maker = {"Authorization": f"Bearer {fetch_token(urls.idp, 'demo', stack.credentials.client_secret('demo'))}"}
    checker = {
        "Authorization": f"Bearer {fetch_token(urls.idp, 'demo-de01', stack.credentials.client_secret('demo-de01'))}"
    }
    gateway = urls.gateway
    mapping = httpx.get(f"{gateway}/v1/mappings/default", headers=maker, timeout=10).json()
    body = {k: mapping["mapping"][k] for k in ("regions", "products")}
    body["regions"]["DACH"]["currencies"] = ["EUR", "CHF"]
    proposed = httpx.post(f"{gateway}/v1/mappings/default/proposals", json=body, headers=maker, timeout=10)
    assert proposed.status_code == 201, proposed.text
    approve = f"{gateway}/v1/proposals/{proposed.json()['id']}/approve"

    own = httpx.post(approve, json={}, headers={**maker, "Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert_problem(own, 403, "/own-proposal")
    approved = httpx.post(approve, json={}, headers={**checker, "Idempotency-Key": uuid.uuid4().hex}, timeout=10)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["proposed_by"], approved.json()["decided_by"]) == ("demo", "demo-de01")
    active = httpx.get(f"{gateway}/v1/mappings/default", headers=maker, timeout=10).json()
    assert (active["number"], active["mapping"]["regions"]["DACH"]["currencies"]) == (
        mapping["number"] + 1,
        ["EUR", "CHF"],
    )


def test_every_event_on_every_stream_is_cloudevents_1_0_as_the_sdk_reads_it(stack: Stack, urls: DemoUrls) -> None:
    """After the demo run, every entry of every event stream parses with the official CloudEvents SDK."""
    run_demo(
        urls, client_secret=stack.credentials.client_secret("demo")
    )  # idempotent: completes the demo run if an earlier test did not
    client = redis.Redis.from_url(stack.redis_url or "")
    try:
        streams = sorted(key.decode() for key in client.scan_iter(match="fig:*", _type="stream"))
        read: dict[str, int] = {}
        for stream in streams:
            entries: Any = client.xrange(stream)
            for _, fields in entries:
                if EVENT_FIELD not in fields:
                    continue  # the gateway's audit log and the feeds' dead rows are not events
                event = from_json(fields[EVENT_FIELD])
                assert event["specversion"] == "1.0", (stream, fields)
                assert event["source"].startswith(("/system-apis/", "/process-apis/")), event["source"]
                read[stream] = read.get(stream, 0) + 1
    finally:
        client.close()
    assert {CRM_EVENTS, ERP_EVENTS, FINANCE_EVENTS, WORK_STREAM} <= set(read), (streams, read)
