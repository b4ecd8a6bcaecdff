"""The app factory gives every service problem+json errors, strict bodies, correlation and health."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient

from contracts import Money
from servicekit import NotFound, ServiceSettings, StrictBody, create_service_app


class Order(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    quantity: int
    price: Money


@post("/orders", dto=StrictBody[Order], return_dto=None, sync_to_thread=False)
def create_order(data: JSONBody[Order]) -> dict[str, Any]:
    return {"total": str(data.price.amount * data.quantity)}


class Rate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    tolerance: Decimal
    steps: list[Decimal] | None = None


@post("/rates", dto=StrictBody[Rate], return_dto=None, sync_to_thread=False)
def create_rate(data: JSONBody[Rate]) -> dict[str, Any]:
    return {"tolerance": str(data.tolerance)}


@get("/orders/{order_id:str}", sync_to_thread=False)
def get_order(order_id: FromPath[str]) -> dict[str, str]:
    raise NotFound(f"order {order_id} does not exist")


@get("/boom", sync_to_thread=False)
def boom() -> None:
    raise RuntimeError("secret internals")


def make_app(redis_url: str) -> Any:
    settings = ServiceSettings(redis_url=redis_url, auth_required=False)
    return create_service_app(name="t", settings=settings, route_handlers=[create_order, create_rate, get_order, boom])


async def test_strict_body_refuses_string_for_int_and_unknown_fields(redis_url: str) -> None:
    async with AsyncTestClient(make_app(redis_url)) as client:
        ok = await client.post("/orders", json={"quantity": 2, "price": {"amount": "10.25", "currency": "EUR"}})
        assert ok.status_code == 201
        assert ok.json() == {"total": "20.50"}
        coerced = await client.post("/orders", json={"quantity": "2", "price": {"amount": "1", "currency": "EUR"}})
        assert coerced.status_code == 400
        assert coerced.headers["content-type"].startswith("application/problem+json")
        assert coerced.json()["errors"][0]["location"] == "$.quantity"
        extra = await client.post("/orders", json={"quantity": 1, "price": {"amount": "1", "currency": "EUR"}, "x": 1})
        assert extra.status_code == 400
        assert "unknown field `x`" in extra.json()["detail"]
        float_money = await client.post("/orders", json={"quantity": 1, "price": {"amount": 10.1, "currency": "EUR"}})
        assert float_money.status_code == 400
        assert float_money.json()["errors"][0]["location"] == "$.price.amount"
        malformed = await client.post("/orders", content=b"{nope", headers={"content-type": "application/json"})
        assert malformed.json()["type"].endswith("/malformed-json")


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"tolerance": 0}, "$.tolerance"),
        ({"tolerance": 0.5}, "$.tolerance"),
        ({"tolerance": " 1"}, "$.tolerance"),
        ({"tolerance": "1_000"}, "$.tolerance"),
        ({"tolerance": "1", "steps": ["1", 2]}, "$.steps[1]"),
    ],
)
async def test_every_decimal_is_a_decimal_string_not_a_number(
    redis_url: str, body: dict[str, Any], location: str
) -> None:
    """Not only money: any decimal field sent as a JSON number (or loose text) is refused where it is."""
    async with AsyncTestClient(make_app(redis_url)) as client:
        refused = await client.post("/rates", json=body)
        fine = await client.post("/rates", json={"tolerance": "0.50", "steps": ["1", "1E+2"]})
    assert refused.status_code == 400, refused.text
    assert [e["location"] for e in refused.json()["errors"]] == [location]
    assert fine.status_code == 201
    assert fine.json() == {"tolerance": "0.50"}


async def test_errors_are_problem_json_with_the_callers_correlation_id(redis_url: str) -> None:
    async with AsyncTestClient(make_app(redis_url)) as client:
        response = await client.get("/orders/42", headers={"X-Correlation-ID": "abc-123"})
        assert response.status_code == 404
        assert response.headers["x-correlation-id"] == "abc-123"
        body = response.json()
        assert body["correlation_id"] == "abc-123"
        assert body["detail"] == "order 42 does not exist"
        unknown_route = await client.get("/nothing-here")
        assert unknown_route.status_code == 404
        assert unknown_route.headers["content-type"].startswith("application/problem+json")


async def test_unhandled_error_leaks_nothing(redis_url: str) -> None:
    async with AsyncTestClient(make_app(redis_url)) as client:
        response = await client.get("/boom")
        assert response.status_code == 500
        body = response.json()
        assert "secret" not in response.text
        assert body["correlation_id"]


async def test_readiness_reports_redis(redis_url: str) -> None:
    async with AsyncTestClient(make_app(redis_url)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"redis": "ok"}


async def test_readiness_fails_by_name_when_redis_is_down() -> None:
    dead = "redis://127.0.0.1:1/0"
    async with AsyncTestClient(make_app(dead)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "redis failed" in ready.json()["detail"]


def test_app_needs_a_redis_url() -> None:
    with pytest.raises(ValueError, match="FIG_REDIS_URL"):
        create_service_app(name="t", settings=ServiceSettings(auth_required=False), route_handlers=[])


async def test_oversized_body_is_refused_with_413_problem(redis_url: str) -> None:
    settings = ServiceSettings(redis_url=redis_url, auth_required=False, max_body_bytes=1024)
    app = create_service_app(name="t", settings=settings, route_handlers=[create_order])
    async with AsyncTestClient(app) as client:
        body = b'{"quantity": 1, "price": {"amount": "1", "currency": "EUR"}, "pad": "' + b"x" * 2048 + b'"}'
        response = await client.post("/orders", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith("/payload-too-large")
