"""The resilient client retries only what is safe and stops calling a failing upstream."""

from __future__ import annotations

import httpx
import pytest

from servicekit import CircuitBreaker, CircuitOpenError, ResilientTransport, correlation_id, create_http_client


def flaky(statuses: list[int], calls: list[httpx.Request]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(statuses.pop(0) if statuses else 200)

    return httpx.MockTransport(handler)


async def test_idempotent_get_is_retried_on_503() -> None:
    calls: list[httpx.Request] = []
    transport = ResilientTransport(flaky([503, 503], calls), retries=2, backoff=0.001)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        response = await client.get("/x")
    assert response.status_code == 200
    assert len(calls) == 3


async def test_post_without_idempotency_key_is_not_retried() -> None:
    calls: list[httpx.Request] = []
    transport = ResilientTransport(flaky([503], calls), retries=2, backoff=0.001)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        response = await client.post("/orders", json={})
    assert response.status_code == 503
    assert len(calls) == 1


async def test_post_with_idempotency_key_is_retried() -> None:
    calls: list[httpx.Request] = []
    transport = ResilientTransport(flaky([502], calls), retries=2, backoff=0.001)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        response = await client.post("/orders", json={}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
    assert len(calls) == 2


async def test_breaker_opens_after_repeated_failures() -> None:
    calls: list[httpx.Request] = []
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    transport = ResilientTransport(flaky([500, 503, 503, 503], calls), retries=0, breaker=breaker)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        await client.get("/a")  # 500 is not a breaker failure: the upstream answered
        await client.get("/b")
        await client.get("/c")
        with pytest.raises(CircuitOpenError):
            await client.get("/d")
    assert len(calls) == 3
    assert breaker.state == "open"


async def test_client_forwards_the_correlation_id_and_keeps_no_cookies() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Set-Cookie": "session=alice; Path=/"})

    client = create_http_client("http://up", transport=httpx.MockTransport(handler), retries=0)
    token = correlation_id.set("corr-1")
    try:
        await client.get("/first")
        await client.get("/second")
    finally:
        correlation_id.reset(token)
        await client.aclose()
    assert seen[0].headers["x-correlation-id"] == "corr-1"
    assert "cookie" not in seen[1].headers
