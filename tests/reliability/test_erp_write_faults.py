"""A NetSuite write whose answer is lost (latency beyond the timeout): the vendor keeps one order."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.reliability.faultproxy import Delay, FaultProxy
from tests.reliability.test_erp_faults import erp, issuer, netsuite, proxy

__all__ = ["erp", "issuer", "netsuite", "proxy"]

ORDER = "SF-0068d00000FAULTAAA"


def _order(customer_id: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "subsidiary_id": "2",
        "currency": "EUR",
        "tran_date": "2026-11-30",
        "memo": "Rheinwerk - Platform Expansion",
        "lines": [
            {
                "item_id": "101",
                "quantity": "10",
                "unit_price": {"amount": "1200.00", "currency": "EUR"},
                "amount": {"amount": "12000.00", "currency": "EUR"},
            }
        ],
    }


def _seen_writes(proxy: FaultProxy) -> list[tuple[float, str, str]]:
    return [entry for entry in proxy.seen if entry[1] in _writes([entry])]


def _writes(entries: list[tuple[float, str, Any]]) -> list[str]:
    return [request for _, request, _ in entries if request.startswith("PUT ") and "/salesOrder/" in request]


async def test_a_sales_order_write_whose_answer_is_lost_leaves_one_order(
    erp: AsyncTestClient[Any], proxy: FaultProxy, netsuite: str
) -> None:
    customer = await erp.put(
        "/v1/customers/SF-0018d00000FAULTAAA",
        json={"name": "Rheinwerk Analytics GmbH", "subsidiary_id": "2", "currency": "EUR"},
    )
    assert customer.status_code in (200, 201), customer.text
    body = _order(customer.json()["id"])
    # The write reaches NetSuite a second after the ERP API gave up on it (timeout 0.3 s).
    proxy.arm(Delay(1.0), match="PUT /services/rest/record/v1/salesOrder/")
    first = await erp.put(f"/v1/sales-orders/{ORDER}", json=body)
    assert first.status_code in (200, 201, 503, 504), first.text
    assert next(fault for _, request, fault in _seen_writes(proxy)) == "Delay"
    # Wait until every order write that reached the proxy, the delayed one too, has been answered by
    # NetSuite: the lost write has landed.
    deadline = time.monotonic() + 10
    while len(_writes(proxy.answered)) < len(_writes(proxy.seen)):
        assert time.monotonic() < deadline, proxy.seen
        await asyncio.sleep(0.05)
    # The caller repeats the same upsert (a run's next attempt): it finds the order the lost answer made.
    again = await erp.put(f"/v1/sales-orders/{ORDER}", json=body)
    assert again.status_code in (200, 201), again.text
    async with httpx.AsyncClient() as admin:
        listed = await admin.get(f"{netsuite}/__admin/sales-orders", params={"externalId": ORDER})
    orders = listed.raise_for_status().json()["items"]
    assert [o["id"] for o in orders] == [again.json()["id"]]
