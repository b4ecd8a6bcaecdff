"""Closing a sales order through the ERP system API, against the NetSuite sandbox: lines closed, booked refused."""

from __future__ import annotations

from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from tests.system_apis.erp.conftest import admin, bearer
from tests.system_apis.erp.test_app import _customer_id, _order_body

ORDER = "SF-0068d00000CLOS1AAA"


async def test_an_unbooked_order_is_closed_line_by_line_and_a_booked_one_is_refused(
    api: AsyncTestClient[Any], sandbox: str
) -> None:
    customer_id = await _customer_id(api)
    created = await api.put(f"/v1/sales-orders/{ORDER}", json=_order_body(customer_id))
    assert created.status_code == 201, created.text

    closed = await api.post(f"/v1/sales-orders/{ORDER}/close")
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["status_code"], closed.json()["booked"]) == ("closed", "H", False)
    # In NetSuite the order is Closed because each line is: the record says so line by line.
    async with httpx.AsyncClient(base_url=sandbox, headers=bearer(sandbox)) as ns:
        record = (
            await ns.get(
                f"/services/rest/record/v1/salesOrder/{closed.json()['id']}", params={"expandSubResources": "true"}
            )
        ).json()
    assert record["orderStatus"]["id"] == "H"
    assert [line["isClosed"] for line in record["item"]["items"]] == [True, True]
    again = await api.post(f"/v1/sales-orders/{ORDER}/close")  # safe to repeat
    assert (again.status_code, again.json()["status"]) == (200, "closed")

    booked_key = "SF-0068d00000CLOS2AAA"
    order = (await api.put(f"/v1/sales-orders/{booked_key}", json=_order_body(customer_id))).json()
    await admin(sandbox, "POST", f"/sales-orders/{order['id']}/approve")
    refused = await api.post(f"/v1/sales-orders/{order['id']}/close")
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/order-not-closable")
    assert "pending_fulfillment" in refused.json()["detail"]
    assert (await api.get(f"/v1/sales-orders/{booked_key}")).json()["status"] == "pending_fulfillment"
    assert (await api.post("/v1/sales-orders/424242/close")).status_code == 404


async def test_the_sandbox_refuses_line_updates_it_does_not_emulate(api: AsyncTestClient[Any], sandbox: str) -> None:
    customer_id = await _customer_id(api)
    order = (await api.put("/v1/sales-orders/SF-0068d00000CLOS3AAA", json=_order_body(customer_id))).json()
    path = f"/services/rest/record/v1/salesOrder/{order['id']}"
    async with httpx.AsyncClient(base_url=sandbox, headers=bearer(sandbox)) as ns:
        some = await ns.patch(path, json={"item": {"items": [{"line": 1, "isClosed": True}]}})
        reopen = await ns.patch(path, json={"item": {"items": [{"line": 1, "isClosed": False}]}})
        requantify = await ns.patch(path, json={"item": {"items": [{"line": 1, "quantity": 2}]}})
        unknown = await ns.patch(path, json={"item": {"items": [{"line": 9, "isClosed": True}]}})
        await ns.patch(path, json={"orderStatus": "G"})  # billed
        billed = await ns.patch(
            path, json={"item": {"items": [{"line": 1, "isClosed": True}, {"line": 2, "isClosed": True}]}}
        )
        after = (await ns.get(path, params={"expandSubResources": "true"})).json()
    for refused in (some, reopen, requantify, unknown, billed):
        assert refused.status_code == 400, refused.text
        assert refused.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_CONTENT"
    assert "some lines only" in some.json()["o:errorDetails"][0]["detail"]
    assert billed.json()["o:errorDetails"][0]["o:errorPath"] == "item.items[0].isClosed"
    assert [line["isClosed"] for line in after["item"]["items"]] == [False, False]
