"""Throttling hints, transport failures and the half-open breaker, through the service client's transport."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest

from servicekit import CircuitBreaker, CircuitOpenError, ResilientTransport, retry_after

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def scripted(answers: list[httpx.Response | Exception], calls: list[float]) -> httpx.MockTransport:
    """Answers (or raises) each scripted item in turn, then 200; records when each call arrived."""

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        answer = answers.pop(0) if answers else httpx.Response(200)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handler)


async def test_a_503_is_repeated_no_sooner_than_its_retry_after() -> None:
    calls: list[float] = []
    transport = ResilientTransport(
        scripted([httpx.Response(503, headers={"Retry-After": "0.4"})], calls), backoff=0.001, max_retry_after=1
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        response = await client.get("/x")
    assert response.status_code == 200
    assert len(calls) == 2
    assert calls[1] - calls[0] >= 0.4


async def test_a_retry_after_beyond_the_bound_ends_the_call_with_that_answer() -> None:
    calls: list[float] = []
    busy = httpx.Response(503, headers={"Retry-After": "10"})
    transport = ResilientTransport(scripted([busy, busy, busy], calls), backoff=0.001, max_retry_after=1)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        response = await client.get("/x")
    # Not called again within the call: the caller gets the hint to pass on or schedule by.
    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    assert len(calls) == 1


async def test_a_429_neither_resets_nor_counts_as_a_breaker_failure() -> None:
    calls: list[float] = []
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    answers: list[httpx.Response | Exception] = [httpx.Response(503), httpx.Response(429), httpx.Response(503)]
    transport = ResilientTransport(scripted(answers, calls), retries=0, breaker=breaker)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        assert (await client.get("/a")).status_code == 503
        assert (await client.get("/b")).status_code == 429
        assert (await client.get("/c")).status_code == 503
        with pytest.raises(CircuitOpenError) as refused:
            await client.get("/d")
    assert len(calls) == 3
    assert 0 < refused.value.retry_after <= 60


async def test_a_reset_connection_is_retried_for_a_get_and_counted() -> None:
    calls: list[float] = []
    breaker = CircuitBreaker(threshold=2, cooldown=60)
    reset = httpx.ReadError("Connection reset by peer")
    transport = ResilientTransport(scripted([reset], calls), backoff=0.001, breaker=breaker)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        assert (await client.get("/x")).status_code == 200
    assert len(calls) == 2
    # A POST without an Idempotency-Key may have been acted on: not repeated, but counted.
    broken: list[httpx.Response | Exception] = [reset, httpx.RemoteProtocolError("Server disconnected")]
    transport = ResilientTransport(scripted(broken, calls), backoff=0.001, breaker=breaker)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        for _ in range(2):
            with pytest.raises(httpx.TransportError):
                await client.post("/orders", json={})
    assert len(calls) == 4
    assert breaker.state == "open"


async def test_a_half_open_breaker_lets_exactly_one_trial_call_through() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=0.05)
    release, arrived = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/down":
            return httpx.Response(503)
        arrived.set()
        await release.wait()
        return httpx.Response(200)

    transport = ResilientTransport(httpx.MockTransport(handler), retries=0, breaker=breaker)
    async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
        assert (await client.get("/down")).status_code == 503
        assert breaker.state == "open"
        await asyncio.sleep(breaker.cooldown)
        assert breaker.state == "half-open"
        trial = asyncio.ensure_future(client.get("/trial"))
        await asyncio.wait_for(arrived.wait(), 2)
        # While the trial is out, everyone else fails fast.
        for _ in range(5):
            with pytest.raises(CircuitOpenError):
                await asyncio.wait_for(client.get("/other"), 2)
        release.set()
        assert (await trial).status_code == 200
        assert breaker.state == "closed"
        assert (await client.get("/after")).status_code == 200
    assert calls == ["/down", "/trial", "/after"]


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("10") == 10.0
    assert retry_after(b"1.5") == 1.5
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert retry_after("soon") is None
    assert retry_after(None) is None
