"""The service client's direct path (aiohttp without httpx's request objects) behaves as httpx's path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from servicekit import ClientCredentialsAuth, correlation_id, create_http_client
from tests.support import read_body, running_server

Scope = dict[str, Any]


class Upstream:
    """A raw ASGI app that answers what it received; `/flaky` fails first, `/guarded` wants a fresh token."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.failures = 0

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        record = {
            "method": scope["method"],
            "path": scope["path"],
            "query": scope["query_string"].decode(),
            "headers": headers,
            "body": body.decode(),
        }
        status = 200
        if scope["path"] != "/health/live":
            self.seen.append(record)
        if scope["path"] == "/flaky" and self.failures > 0:
            self.failures -= 1
            status = 503
        if scope["path"] == "/guarded" and headers.get("authorization") != "Bearer fresh":
            status = 401
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(record).encode()})


class Tokens(ClientCredentialsAuth):
    """The service token source, answering a stale token until asked to refresh."""

    def __init__(self) -> None:
        super().__init__("http://idp.invalid/token", "client", "secret", "scope")
        self.forced = 0

    async def token(self, *, force: bool = False) -> str:
        self.forced += force
        return "fresh" if self.forced else "stale"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    app = Upstream()
    with running_server(app) as base:
        yield app, base


async def test_a_plain_call_sends_what_httpx_would_send(upstream: tuple[Upstream, str]) -> None:
    app, base = upstream
    client = create_http_client(base + "/api", retries=0)
    token = correlation_id.set("corr-direct")
    try:
        direct = await client.request(
            "PUT", "/items/a%2Fb", content=b'{"x":1}', params={"expand": True, "n": 2}, headers={"X-Extra": "1"}
        )
        via_httpx = await client.request(
            "PUT",
            "/items/a%2Fb",
            content=b'{"x":1}',
            params={"expand": True, "n": 2},
            headers={"X-Extra": "1"},
            timeout=10.0,  # any further keyword takes httpx's own path
        )
    finally:
        correlation_id.reset(token)
        await client.aclose()
    first, second = app.seen[-2:]
    assert (first["path"], first["query"], first["body"]) == ("/api/items/a/b", "expand=true&n=2", '{"x":1}')
    assert first["headers"]["x-correlation-id"] == "corr-direct"
    assert first["headers"]["x-extra"] == "1"
    ignored = {"host", "content-length"}
    assert {k: v for k, v in first["headers"].items() if k not in ignored} == {
        k: v for k, v in second["headers"].items() if k not in ignored
    }
    assert (first["method"], first["query"]) == (second["method"], second["query"])
    assert direct.json() == {**via_httpx.json(), "headers": direct.json()["headers"]}
    assert str(direct.request.url) == f"{base}/api/items/a%2Fb?expand=true&n=2"


async def test_a_401_fetches_a_fresh_token_once(upstream: tuple[Upstream, str]) -> None:
    app, base = upstream
    tokens = Tokens()
    client = create_http_client(base, retries=0, auth=tokens)
    try:
        response = await client.request("GET", "/guarded")
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert tokens.forced == 1
    assert [r["headers"]["authorization"] for r in app.seen[-2:]] == ["Bearer stale", "Bearer fresh"]


async def test_idempotent_calls_are_retried_and_others_are_not(upstream: tuple[Upstream, str]) -> None:
    app, base = upstream
    client = create_http_client(base, retries=2)
    try:
        app.failures = 1
        retried = await client.request("GET", "/flaky")
        app.failures = 1
        once = await client.request("POST", "/flaky", content=b"{}")
        app.failures = 1
        keyed = await client.request("POST", "/flaky", content=b"{}", headers={"Idempotency-Key": "k1"})
    finally:
        await client.aclose()
    assert (retried.status_code, once.status_code, keyed.status_code) == (200, 503, 200)


async def test_an_unreachable_upstream_is_an_httpx_connect_error() -> None:
    client = create_http_client("http://127.0.0.1:9", retries=0, connect_timeout=0.5)
    try:
        with pytest.raises(httpx.ConnectError) as raised:
            await client.request("GET", "/x")
    finally:
        await client.aclose()
    assert str(raised.value.request.url) == "http://127.0.0.1:9/x"
