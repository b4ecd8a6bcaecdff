"""Accounting periods on the whole stack: a deal dated in a period the NetSuite sandbox has closed
is not posted there; accounting chooses the open period and the order is dated in it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.demo import fetch_token
from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_ports
from system_apis.crm.sandbox.seed import DEMO_OPPORTUNITY_IDS

pytestmark = pytest.mark.e2e

#: The Thames Data renewal: approved in the seed, GB01 (NetSuite subsidiary 3), dated 2026-11-20.
DEAL = DEMO_OPPORTUNITY_IDS[1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    with Stack(Path(tmp_path_factory.mktemp("periods-stack")), ports=ports) as running:
        yield running


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:.0f}s")
        time.sleep(0.3)
    return found


def test_a_deal_in_a_closed_period_is_posted_into_the_open_one_when_accounting_chooses(stack: Stack) -> None:
    gateway, netsuite = stack.url("gateway"), stack.url("netsuite-sandbox")
    token = fetch_token(stack.url("idp"), "demo", stack.credentials.client_secret("demo"))
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:
        schedules = api.get("/v1/schedules")
        assert schedules.status_code == 200, schedules.text
        names = [s["name"] for s in schedules.json()["items"]]
        assert names == ["nightly-reconciliation", "reference-data-sync", "period-close-check"]

        # Accounting closes GB01's November in NetSuite.
        closed = httpx.post(f"{netsuite}/__admin/periods/3/2026-11/close", timeout=10)
        assert closed.status_code == 200, closed.text

        started = api.post(
            "/v1/quote-to-cash/runs", json={"opportunity_id": DEAL}, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert started.status_code in (200, 202), started.text
        run_id = started.json()["id"]

        def parked() -> dict[str, Any] | None:
            body: dict[str, Any] = api.get(f"/v1/quote-to-cash/runs/{run_id}").json()
            return body if body.get("state") == "failed" else None

        run = _until(parked, "run parked on the closed period")
        assert run["error"]["type"].endswith("/period-closed"), run["error"]
        orders = httpx.get(f"{netsuite}/__admin/sales-orders", params={"externalId": f"SF-{DEAL}"}, timeout=10)
        assert orders.json()["items"] == []
        record = api.get(f"/v1/exceptions/{run['exception_id']}").json()
        assert (record["reason_code"], record["owner_team"]) == ("period_closed", "accounting")

        retried = api.post(
            f"/v1/exceptions/{run['exception_id']}/retry",
            json={"note": "post in December", "post_into_open_period": True},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert retried.status_code == 202, retried.text

        def posted() -> list[dict[str, Any]]:
            response = httpx.get(f"{netsuite}/__admin/sales-orders", params={"externalId": f"SF-{DEAL}"}, timeout=10)
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        [order] = _until(posted, "order posted into December")
        assert order["tranDate"] == "2026-12-01"
        assert api.get(f"/v1/quote-to-cash/runs/{run_id}").json()["posting_period"] == "2026-12"
