"""An HTTP fault proxy for tests: between a client and its upstream, misbehaves on request.

`FaultProxy(target)` listens on a free local port and forwards every request to `target` (method,
path, query, headers, body; the answer likewise), unless a fault is armed for it:
- `Delay(s)`: wait `s` seconds, then forward (latency beyond a client's timeout);
- `BlackHole()`: accept the request and never answer (until the proxy closes);
- `Reset()`: abort the connection with a TCP RST (`SO_LINGER` 0), nothing answered;
- `Answer(status, headers)`: answer itself, the upstream never sees the request (503, 429 with
  `Retry-After`).
`arm(fault, times=n, match=...)` applies a fault to the next n requests whose "METHOD path" contains
`match` (a path part, or "PUT /path" for one method; `times=None`: to every one until `clear()`).
`seen` records each request as (monotonic time, "METHOD path", fault name or "pass"), `answered`
each one the target answered as (monotonic time, "METHOD path", status).

The proxy runs its own event loop in a thread (as `tests.support.running_server` does for apps), so
it keeps answering while the test's loop waits on an in-process client.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
from aiohttp import web

from servicekit import free_port

__all__ = ["Answer", "BlackHole", "Delay", "Fault", "FaultProxy", "Reset"]

#: Not copied in either direction (aiohttp sets them for each connection); `Host` is kept, so the
#: upstream sees the address its client used (the NetSuite sandbox checks a token's audience by it).
_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})


@dataclass(frozen=True)
class Delay:
    seconds: float


@dataclass(frozen=True)
class BlackHole:
    pass


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"title": "injected by the fault proxy"}'


Fault = Delay | BlackHole | Reset | Answer


@dataclass
class _Armed:
    fault: Fault
    match: str
    times: int | None


class FaultProxy:
    """See the module docstring; use as `with FaultProxy(target) as proxy:`."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[float, str, str]] = []
        #: Requests passed on to the target and answered by it: (time, "METHOD path", status).
        self.answered: list[tuple[float, str, int]] = []
        self._armed: list[_Armed] = []
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)

    def arm(self, fault: Fault, *, times: int | None = 1, match: str = "") -> None:
        with self._lock:
            self._armed.append(_Armed(fault, match, times))

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def hits(self, match: str = "") -> list[tuple[float, str, str]]:
        """The requests seen whose "METHOD path" contains `match`."""
        return [entry for entry in self.seen if match in entry[1]]

    def _take(self, request: str) -> Fault | None:
        with self._lock:
            for armed in self._armed:
                if armed.match in request:
                    if armed.times is not None:
                        armed.times -= 1
                        if armed.times <= 0:
                            self._armed.remove(armed)
                    return armed.fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        fault = self._take(f"{request.method} {request.path}")
        name = type(fault).__name__ if fault is not None else "pass"
        self.seen.append((time.monotonic(), f"{request.method} {request.path}", name))
        if isinstance(fault, Reset):
            transport = request.transport
            if transport is not None:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            return web.Response(status=500)  # never delivered: the connection is gone
        if isinstance(fault, BlackHole):
            assert self._closing is not None
            await self._closing.wait()
            return web.Response(status=504)
        if isinstance(fault, Answer):
            return web.Response(
                status=fault.status, body=fault.body, headers={"Content-Type": "application/json", **fault.headers}
            )
        # Read first: a delayed request still reaches the target after its caller gave up (a write
        # whose answer is lost), as it would behind a slow network.
        payload = await request.read() or None
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        async with self._session.request(
            request.method, self.target + request.path_qs, headers=headers, data=payload, allow_redirects=False
        ) as answer:
            body = await answer.read()
            passed = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP]
        self.answered.append((time.monotonic(), f"{request.method} {request.path}", answer.status))
        response = web.Response(status=answer.status, body=body)
        for name, value in passed:
            response.headers.add(name, value)
        return response

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing = asyncio.Event()
        self._session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._started.set()
            await self._closing.wait()
        finally:
            await runner.cleanup()
            await self._session.close()

    def _run(self) -> None:
        asyncio.run(self._serve())

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._closing is not None:
            self._loop.call_soon_threadsafe(self._closing.set)
        self._thread.join(10)
