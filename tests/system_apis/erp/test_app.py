"""The ERP system API in-process, against a running NetSuite sandbox and a real Redis."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from system_apis.erp import ErpSettings, create_app
from tests.system_apis.erp.conftest import admin, arm
from tests.tokens import TestIssuer

DEMO_ACCOUNT = "SF-0018d00000DEMOAAAA"
DEMO_ORDER = "SF-0068d00000DEMO1AAA"


def _order_body(customer_id: str, item_id: str = "101") -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "subsidiary_id": "2",
        "currency": "EUR",
        "tran_date": "2026-11-30",
        "memo": "Rheinwerk - Platform Expansion",
        "lines": [
            {
                "item_id": item_id,
                "quantity": "10",
                "unit_price": {"amount": "1200.00", "currency": "EUR"},
                "amount": {"amount": "12000.00", "currency": "EUR"},
            },
            {
                "item_id": "102",
                "quantity": "1",
                "unit_price": {"amount": "2400.00", "currency": "EUR"},
                "amount": {"amount": "2400.00", "currency": "EUR"},
            },
        ],
    }


async def _customer_id(api: AsyncTestClient[Any]) -> str:
    response = await api.put(
        f"/v1/customers/{DEMO_ACCOUNT}",
        json={"name": "Rheinwerk Analytics GmbH", "subsidiary_id": "2", "currency": "EUR"},
    )
    assert response.status_code in (200, 201), response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def test_customer_upsert_is_201_then_200_for_the_same_external_id(api: AsyncTestClient[Any]) -> None:
    body = {"name": "Rheinwerk Analytics GmbH", "subsidiary_id": "2", "currency": "EUR"}
    created = await api.put(f"/v1/customers/{DEMO_ACCOUNT}", json=body)
    updated = await api.put(f"/v1/customers/{DEMO_ACCOUNT}", json={**body, "email": "ap@rheinwerk.example"})
    assert (created.status_code, updated.status_code) == (201, 200)
    assert created.json()["id"] == updated.json()["id"]
    assert updated.json()["external_id"] == DEMO_ACCOUNT
    fetched = await api.get(f"/v1/customers/{created.json()['id']}")
    assert fetched.json()["email"] == "ap@rheinwerk.example"
    assert fetched.json()["currency"] == "EUR"
    by_external_id = await api.get(f"/v1/customers/{DEMO_ACCOUNT}")
    assert by_external_id.json() == fetched.json()
    assert (await api.get("/v1/customers/SF-NOBODY")).status_code == 404


async def test_sales_order_upsert_twice_leaves_exactly_one_order(api: AsyncTestClient[Any], sandbox: str) -> None:
    customer_id = await _customer_id(api)
    created = await api.put(f"/v1/sales-orders/{DEMO_ORDER}", json=_order_body(customer_id))
    again = await api.put(f"/v1/sales-orders/{DEMO_ORDER}", json=_order_body(customer_id))
    assert (created.status_code, again.status_code) == (201, 200), created.text
    order = created.json()
    assert order["id"] == again.json()["id"]
    assert order["status"] == "pending_approval"
    assert order["status_code"] == "A"
    assert order["booked"] is False
    assert order["total"] == {"amount": "14400.00", "currency": "EUR"}
    assert [line["item_id"] for line in order["lines"]] == ["101", "102"]
    found = (await admin(sandbox, "GET", "/sales-orders", params={"externalId": DEMO_ORDER})).json()["items"]
    assert len(found) == 1
    await admin(sandbox, "POST", f"/sales-orders/{order['id']}/approve")
    booked = await api.get(f"/v1/sales-orders/{DEMO_ORDER}")
    assert (booked.json()["status"], booked.json()["booked"]) == ("pending_fulfillment", True)


async def test_unknown_customer_or_item_is_422_naming_the_field(api: AsyncTestClient[Any]) -> None:
    unknown_customer = await api.put("/v1/sales-orders/SF-NOCUSTOMER", json=_order_body("999999"))
    assert unknown_customer.status_code == 422
    assert unknown_customer.headers["content-type"].startswith("application/problem+json")
    problem = unknown_customer.json()
    assert problem["errors"][0]["location"] == "customer_id"
    assert problem["code"] == "INVALID_CONTENT"
    unknown_item = await api.put("/v1/sales-orders/SF-NOITEM", json=_order_body(await _customer_id(api), "999"))
    assert unknown_item.status_code == 422
    assert unknown_item.json()["errors"][0]["location"] == "lines[0].item_id"


async def test_bad_requests_never_reach_the_erp(api: AsyncTestClient[Any]) -> None:
    coerced = await api.put(f"/v1/customers/{DEMO_ACCOUNT}", json={"name": "X", "subsidiary_id": 2, "currency": "EUR"})
    assert coerced.status_code == 400
    bad_id = await api.put("/v1/customers/SF|1", json={"name": "X", "subsidiary_id": "2", "currency": "EUR"})
    assert bad_id.status_code == 400
    chf = await api.put("/v1/customers/SF-CHF", json={"name": "X", "subsidiary_id": "2", "currency": "CHF"})
    assert chf.status_code == 422
    assert chf.json()["errors"][0]["location"] == "currency"


async def test_missing_order_is_404_and_throttling_is_503(api: AsyncTestClient[Any], sandbox: str) -> None:
    missing = await api.get("/v1/sales-orders/424242")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    arm(sandbox, "GET */customer/*", "throttle", count=50)
    throttled = await api.get("/v1/customers/1001")
    assert throttled.status_code == 503
    assert throttled.json()["type"].endswith("/erp-throttled")


async def test_vendor_server_errors_are_502(api: AsyncTestClient[Any], sandbox: str) -> None:
    arm(sandbox, "GET */customer/*", "error", status=500)
    failed = await api.get("/v1/customers/1001")
    assert failed.status_code == 502
    assert failed.json()["type"].endswith("/erp-error")
    assert (await api.get("/v1/customers/1001")).status_code == 200


async def test_refused_credentials_make_the_service_unready(
    sandbox: str, redis_url: str, issuer: tuple[TestIssuer, str]
) -> None:
    token_issuer, idp_url = issuer
    settings = ErpSettings(
        redis_url=redis_url,
        sandbox_url=sandbox,
        idp_url=idp_url,
        token_issuer=token_issuer.issuer,
        feed_interval=0,
        ns_key_id="revoked-cert",
    )
    async with AsyncTestClient(create_app(settings)) as api:
        ready = await api.get("/health/ready")
        assert ready.status_code == 503
        assert "invalid_client" in ready.json()["extensions"]["checks"]["netsuite"]
        headers = {"Authorization": f"Bearer {token_issuer.mint(['erp:read'])}"}
        assert (await api.get("/v1/customers/1001", headers=headers)).status_code == 502


async def test_list_sales_orders_by_status_with_cursor(api: AsyncTestClient[Any]) -> None:
    first = await api.get("/v1/sales-orders", params={"status": "pending_fulfillment", "limit": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert len(page["items"]) == 2
    assert page["next_cursor"] == page["items"][-1]["id"]
    rest = await api.get("/v1/sales-orders", params={"status": "pending_fulfillment", "cursor": page["next_cursor"]})
    ids = [o["id"] for o in page["items"] + rest.json()["items"]]
    assert all(o["status"] == "pending_fulfillment" for o in page["items"] + rest.json()["items"])
    assert len(ids) == len(set(ids)) >= 3
    assert rest.json().get("next_cursor") is None
    bad = await api.get("/v1/sales-orders", params={"status": "shipped"})
    assert bad.status_code == 400


async def test_scopes_are_enforced(api: AsyncTestClient[Any], issuer: tuple[TestIssuer, str]) -> None:
    token_issuer, _ = issuer
    anonymous = await api.get("/v1/customers/1001", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    read_only = {"Authorization": f"Bearer {token_issuer.mint(['erp:read'])}"}
    assert (await api.get("/v1/customers/1001", headers=read_only)).status_code == 200
    refused = await api.put(
        f"/v1/customers/{DEMO_ACCOUNT}",
        json={"name": "X", "subsidiary_id": "2", "currency": "EUR"},
        headers=read_only,
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/insufficient-scope")


async def test_readiness_checks_redis_and_netsuite(api: AsyncTestClient[Any]) -> None:
    ready = await api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "netsuite": "ok"}
