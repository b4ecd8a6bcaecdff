"""Changes after approval on the whole stack: a Salesforce edit before booking updates the NetSuite
order; after booking it waits, as an exception for order management, and nothing moves."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.demo import fetch_token
from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_ports
from system_apis.crm.sandbox.seed import DEMO_OPPORTUNITY_IDS
from tests.system_apis.crm.support import token_for

pytestmark = pytest.mark.e2e

#: Rheinwerk - Platform Expansion: DACH (DE01), 14,400.00 EUR, closing 2026-11-30, pending approval.
DEAL = DEMO_OPPORTUNITY_IDS[0]
RUN = f"q2c-{DEAL}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    with Stack(Path(tmp_path_factory.mktemp("amendments-stack")), ports=ports) as running:
        yield running


def _until(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {timeout:.0f}s")
        time.sleep(0.3)
    return found


def _edit(salesforce: str, body: bytes) -> None:
    """A Salesforce user edits the deal (vendor REST API; numbers as JSON numbers, never floats)."""
    headers = {"Authorization": f"Bearer {token_for(salesforce)}", "Content-Type": "application/json"}
    url = f"{salesforce}/services/data/v62.0/sobjects/Opportunity/{DEAL}"
    response = httpx.patch(url, headers=headers, content=body, timeout=10)
    assert response.status_code == 204, response.text


def test_an_edit_before_booking_updates_the_order_and_after_booking_waits_for_order_management(
    stack: Stack,
) -> None:
    gateway, salesforce, netsuite = stack.url("gateway"), stack.url("salesforce-sandbox"), stack.url("netsuite-sandbox")
    token = fetch_token(stack.url("idp"), "demo", stack.credentials.client_secret("demo"))
    with httpx.Client(base_url=gateway, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api:

        def run_with(predicate: Callable[[dict[str, Any]], bool]) -> Callable[[], dict[str, Any] | None]:
            def check() -> dict[str, Any] | None:
                response = api.get(f"/v1/quote-to-cash/runs/{RUN}")
                body: dict[str, Any] = response.json() if response.status_code == 200 else {}
                return body if body and predicate(body) else None

            return check

        def orders() -> list[dict[str, Any]]:
            response = httpx.get(f"{netsuite}/__admin/sales-orders", params={"externalId": f"SF-{DEAL}"}, timeout=10)
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        # Approved in Salesforce: the CRM feed's event starts the run, which posts the order.
        assert httpx.post(f"{salesforce}/__admin/opportunities/{DEAL}/close-won", timeout=10).status_code == 200
        _until(run_with(lambda r: r["state"] == "order_created"), "order created from the approval")
        [order] = orders()
        assert order["tranDate"] == "2026-11-30"

        # Before booking: the close date moves in Salesforce; the same NetSuite order follows.
        _edit(salesforce, b'{"CloseDate": "2026-11-25"}')
        run = _until(
            run_with(lambda r: "close_date: 2026-11-30 -> 2026-11-25" in r["gates"][-1]["detail"]),
            "amendment applied to the order",
        )
        assert run["state"] == "order_created"
        [amended] = orders()
        assert (amended["id"], amended["tranDate"]) == (order["id"], "2026-11-25")

        # Booked in NetSuite: the run completes with the amended deal.
        approve = httpx.post(f"{netsuite}/__admin/sales-orders/{order['id']}/approve", timeout=10)
        assert approve.status_code in (200, 204), approve.text
        _until(run_with(lambda r: r["state"] == "completed"), "run completed")

        # After booking: the amount raised from 14,400 to 20,000 is an exception; nothing moves.
        _edit(salesforce, b'{"Amount": 20000.00}')
        parked = _until(run_with(lambda r: r["state"] == "failed"), "amendment after booking parked")
        record = api.get(f"/v1/exceptions/{parked['exception_id']}").json()
        assert (record["reason_code"], record["owner_team"], record["status"]) == (
            "amended_after_booking",
            "order-management",
            "open",
        )
        assert "amount: 14400.00 -> 20000.00" in record["detail"]
        [booked] = orders()
        assert booked == {**booked, "id": order["id"], "tranDate": "2026-11-25"}
        assert booked.get("total") == amended.get("total")

        # Approving it (a retry) checks the amended deal first: its lines still sum to 14,400.
        retried = api.post(
            f"/v1/exceptions/{record['id']}/retry",
            json={"note": "approved"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert retried.status_code == 409, retried.text
        assert "lines sum to 14400.00, the opportunity amount is 20000.00" in retried.json()["detail"]
        assert orders() == [booked]

        # Sales corrects the deal's line (10 x 1,760.00 + 2,400.00 = 20,000.00): a new amendment
        # replaces the first, and approving it corrects the order and the committed forecast.
        line = f"{salesforce}/services/data/v62.0/sobjects/OpportunityLineItem/00k8d00000DEMO1AAA"
        headers = {"Authorization": f"Bearer {token_for(salesforce)}", "Content-Type": "application/json"}
        assert httpx.patch(line, headers=headers, content=b'{"UnitPrice": 1760.00}').status_code == 204

        def superseding() -> dict[str, Any] | None:
            run = api.get(f"/v1/quote-to-cash/runs/{RUN}").json()
            return run if run["exception_id"] != record["id"] and run["state"] == "failed" else None

        replaced = _until(superseding, "the corrected amendment parked")
        second = api.get(f"/v1/exceptions/{replaced['exception_id']}").json()
        assert second["reason_code"] == "amended_after_booking"
        assert "lines: " in second["detail"]
        approved = api.post(
            f"/v1/exceptions/{second['id']}/retry",
            json={"note": "upsell signed"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert approved.status_code == 202, approved.text
        done = _until(run_with(lambda r: r["state"] == "completed"), "amended run completed")
        assert any("amendment approved" in g["detail"] for g in done["gates"])
        [corrected] = orders()
        assert corrected["id"] == order["id"]
        assert {item["rate"] for item in corrected["item"]["items"]} >= {1760.0}
        cells = httpx.get(f"{stack.url('anaplan-sandbox')}/__admin/cells", params={"entity": "DE01"}, timeout=10)
        ours = [c for c in cells.json()["cells"] if str(c.get("booking_code", "")).startswith(f"SO{order['id']}-")]
        assert sum(Decimal(str(c["amount"])) for c in ours) == Decimal("20000.00"), ours
