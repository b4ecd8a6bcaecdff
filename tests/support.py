"""Test helpers: run an ASGI app on a real socket in a background thread."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from deploy.rediscluster import RedisClusterNodes
from deploy.tls import LocalTls
from servicekit.http import trusting
from servicekit.redis import EmbeddedRedis, RedisClient, free_port

__all__ = ["keys_matching", "read_body", "running_server", "stack_redis_url"]


@contextmanager
def running_server(
    app: Any, port: int | None = None, ready_path: str = "/health/live", tls: LocalTls | None = None
) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 (free port unless given); yields the base URL.

    The server runs its own event loop in a thread, so the app is reached over real HTTP exactly
    as another process would reach it; with `tls` over HTTPS, with the local CA's server certificate.
    """
    port = port or free_port()
    tls_args: dict[str, Any] = {"ssl_certfile": str(tls.certificate), "ssl_keyfile": str(tls.key)} if tls else {}
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", log_config=None, **tls_args
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = trusting(str(tls.ca_bundle)) or True if tls else True
    deadline = time.monotonic() + 15
    while True:
        try:
            if server.started and httpx.get(base + ready_path, timeout=1, verify=verify).status_code < 500:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"server on {base} did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


async def read_body(receive: Any) -> bytes:
    """The whole request body of a raw ASGI test app, however many messages it came in."""
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def keys_matching(redis: RedisClient, pattern: str) -> list[bytes]:
    """Every key matching `pattern`, sorted: SCAN on every primary of a cluster (KEYS asks only one node)."""
    return sorted([key async for key in redis.scan_iter(match=pattern, count=1000)])


def stack_redis_url(server: EmbeddedRedis | RedisClusterNodes) -> str | None:
    """The Redis for a test's stack: the session's cluster, emptied, when the suite runs on one;
    otherwise None, and the stack starts its own redis-server."""
    if isinstance(server, RedisClusterNodes):
        server.flushall()
        return server.url
    return None
