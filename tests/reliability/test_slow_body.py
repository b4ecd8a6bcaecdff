"""A slowly sent request body is refused with 408 in bounded time, the connection closed, nothing acted on.

A dribbling client on a raw socket declares a body and sends less of it (or sends it a byte at a
time): the gateway (served by granian, as in production) and a servicekit service (uvicorn) must
answer 408 problem+json within their configured bounds and close the connection, and the
upstream / handler must never see the request.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import post
from litestar.params import JSONBody

from gateway.idp import IdpSettings
from gateway.idp import create_app as create_idp
from gateway.idp.devcredentials import DevCredentials
from servicekit import ServiceSettings, create_service_app, free_port
from servicekit.redis import EmbeddedRedis
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.ledger import write_ledger
from tests.gateway.processes import gateway_process
from tests.support import running_server

#: The socket's own bound: far above the configured timeouts, so a hang fails the test instead of blocking it.
SOCKET_BOUND = 20.0


def _dribble(base: str, path: str, headers: dict[str, str], declared: int, pieces: list[bytes], gap: float) -> bytes:
    """Send the head declaring `declared` body bytes, then `pieces` with `gap` seconds between them
    (stopping early if the server answers); return everything the server sent until it closed."""
    url = httpx.URL(base)
    with socket.create_connection((url.host, url.port), timeout=SOCKET_BOUND) as sock:
        head = [f"POST {path} HTTP/1.1", f"Host: {url.host}:{url.port}", f"Content-Length: {declared}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.setblocking(True)
        received = b""
        for piece in pieces:
            sock.sendall(piece)
            # Wait for the gap, or for the server's answer if it comes first.
            sock.settimeout(gap)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            finally:
                sock.settimeout(SOCKET_BOUND)
            received += chunk
            break
        while True:  # until the server closes the connection (the socket bound fails a hang)
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def _parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, headers, json.loads(body) if body else None


def _assert_timeout_problem(raw: bytes) -> None:
    status, headers, problem = _parse(raw)
    assert status == 408, raw
    assert headers["content-type"] == "application/problem+json"
    assert problem["type"].endswith("/request-timeout")
    assert "did not arrive in time" in problem["detail"]


@pytest.fixture(scope="module")
def idp(redis_server: EmbeddedRedis, dev_credentials: DevCredentials) -> Iterator[RunningIdp]:
    port = free_port()
    settings = IdpSettings(
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        redis_url=redis_server.url,
        clients_path=dev_credentials.clients_path,
        users_path=dev_credentials.users_path,
    )
    app = create_idp(settings)
    with running_server(app, port=port) as url:
        yield RunningIdp(url, app, dev_credentials)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with running_server(fake.app()) as url:
        fake.base = url
        yield fake


@pytest.fixture
def gateway(tmp_path: Path, redis_url: str, idp: RunningIdp, upstream: FakeUpstream) -> Iterator[str]:
    settings = {
        **write_ledger(tmp_path, 1000),
        "redis_url": redis_url,
        "idp_url": idp.url,
        "token_issuer": idp.issuer.issuer,
        "process_url": upstream.base,
        "client_secret": idp.credentials.client_secret("gateway"),
        "body_chunk_timeout": "0.5",
        "body_timeout": "1.5",
    }
    with gateway_process(settings, granian=True) as (base, _):
        yield base


def test_gateway_refuses_a_body_that_stops_arriving(gateway: str, idp: RunningIdp, upstream: FakeUpstream) -> None:
    headers = {"Authorization": f"Bearer {idp.mint(scopes=('ledger:write',))}", "Content-Type": "text/plain"}
    # The same request sent promptly goes through (so the refusal below is about timing only).
    fast = httpx.post(f"{gateway}/v3/ledger/notes?tag=fast", headers=headers, content=b"n" * 100, timeout=10)
    assert fast.status_code == 201, fast.text
    assert upstream.hits["fast"] == 1

    raw = _dribble(gateway, "/v3/ledger/notes?tag=stalled", headers, 100, [b"n"], gap=SOCKET_BOUND)

    _assert_timeout_problem(raw)
    assert upstream.hits["stalled"] == 0


def test_gateway_refuses_a_body_dribbled_past_the_overall_deadline(
    gateway: str, idp: RunningIdp, upstream: FakeUpstream
) -> None:
    headers = {"Authorization": f"Bearer {idp.mint(scopes=('ledger:write',))}", "Content-Type": "text/plain"}
    # One byte every 0.2 s: each within the chunk timeout, the whole (100 bytes, 20 s) far past the deadline.
    raw = _dribble(gateway, "/v3/ledger/notes?tag=dribbled", headers, 100, [b"n"] * 100, gap=0.2)

    _assert_timeout_problem(raw)
    assert upstream.hits["dribbled"] == 0


@pytest.fixture
def service() -> Iterator[tuple[str, list[bytes]]]:
    seen: list[bytes] = []

    @post("/v1/things", operation_id="postThing", status_code=201)
    async def create(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        seen.append(json.dumps(data).encode())
        return data

    settings = ServiceSettings(auth_required=False, body_chunk_timeout=0.5, body_timeout=1.5)
    app = create_service_app(name="slow", settings=settings, route_handlers=[create], use_redis=False)
    with running_server(app) as base:
        yield base, seen


@pytest.mark.parametrize(
    ("pieces", "gap"),
    [([b"{"], SOCKET_BOUND), ([b" "] * 100, 0.2)],
    ids=["stalled", "dribbled"],
)
def test_service_refuses_a_slow_body(service: tuple[str, list[bytes]], pieces: list[bytes], gap: float) -> None:
    base, seen = service
    ok = httpx.post(f"{base}/v1/things", json={"a": 1}, timeout=10)
    assert ok.status_code == 201, ok.text

    raw = _dribble(base, "/v1/things", {"Content-Type": "application/json"}, 100, pieces, gap=gap)

    _assert_timeout_problem(raw)
    assert seen == [b'{"a": 1}']  # the handler ran once, for the prompt request only
