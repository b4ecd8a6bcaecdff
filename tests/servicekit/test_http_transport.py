"""The service client's aiohttp transport over real HTTP: what httpx callers see stays the same."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from servicekit import create_http_client
from servicekit.redis import free_port
from tests.support import read_body, running_server

_hits: list[str] = []


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = await read_body(receive)
    _hits.append(scope["path"])
    if scope["path"] == "/slow":
        await asyncio.sleep(1.0)
    cookie = next((v for k, v in scope["headers"] if k == b"cookie"), b"")
    echo = b"|".join([scope["method"].encode(), scope["raw_path"], body, cookie])
    headers = [(b"content-type", b"text/plain"), (b"x-seen", b"a"), (b"x-seen", b"b")]
    headers.append((b"set-cookie", b"session=alice; Path=/"))
    status = 503 if scope["path"] == "/down" else 201
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": echo})


@pytest.fixture(scope="module")
def upstream() -> Any:
    with running_server(_app, ready_path="/ready") as base:
        yield base


async def test_requests_and_answers_cross_intact(upstream: str) -> None:
    async with create_http_client(upstream, retries=0) as client:
        first = await client.post("/v1/customers/SF%2D1", content=b'{"a": 1}', headers={"x-k": "1"})
        second = await client.get("/again")
    assert first.status_code == 201
    assert first.content == b'POST|/v1/customers/SF%2D1|{"a": 1}|'  # escapes kept, body sent
    assert first.headers.get_list("x-seen") == ["a", "b"]
    assert second.content == b"GET|/again||"  # the Set-Cookie of the first answer is not replayed
    assert first.request.url.path == "/v1/customers/SF-1"


async def test_idempotent_calls_are_retried_on_503(upstream: str) -> None:
    async with create_http_client(upstream, retries=2) as client:
        response = await client.get("/down")
        posted = await client.post("/down", content=b"x")
    assert (response.status_code, posted.status_code) == (503, 503)
    assert _hits.count("/down") == 3 + 1  # GET tried three times, the POST (not idempotent) once


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with create_http_client(f"http://127.0.0.1:{free_port()}", retries=1) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/x")


async def test_a_slow_answer_is_a_read_timeout(upstream: str) -> None:
    async with create_http_client(upstream, timeout=0.2, retries=0) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")
