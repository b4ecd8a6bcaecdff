"""A request body must arrive in time: a bounded wait per chunk and an overall deadline.

The HTTP servers cut slow headers and idle connections, but once a request's headers are in,
nothing bounds how long its body may take: a client declaring `Content-Length: 100` and sending
one byte holds a connection (and a worker's request slot) indefinitely. Every read of the body is
therefore bounded twice: each `receive()` must deliver within `chunk_timeout` seconds, and the
whole body within `body_timeout` seconds of its first read. Past either, the request is refused
with 408 `request-timeout` and `Connection: close` (the rest of the body is never read, so the
connection cannot carry another request) before anything acted on it.

One `BodyWatch` per app bounds all its requests' reads with a single periodic check (every quarter
of the shorter timeout) that cancels overdue reads, instead of arming and cancelling a timer per
read: a timer (`asyncio.timeout`) costs several times more than the dictionary entry a watched read
costs, and reads are on the gateway's hot path. A refusal therefore comes up to a quarter of the
timeout late. The check runs only while some read is waiting. A request without a body never calls
`receive()` for it, so it pays nothing.
"""

from __future__ import annotations

import asyncio

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from servicekit.errors import ProblemError

__all__ = ["BodyTimeoutMiddleware", "BodyWatch", "RequestTimeout"]


class RequestTimeout(ProblemError):
    """408: the request body did not arrive in time; the connection is closed after the answer."""

    status, slug, title = 408, "request-timeout", "Request body too slow"

    def __init__(self, chunk_timeout: float, body_timeout: float) -> None:
        super().__init__(
            f"The request body did not arrive in time (each part within {chunk_timeout:g} s, the whole body "
            f"within {body_timeout:g} s). Send the body together with the headers and retry.",
            headers={"Connection": "close"},
        )


class BodyWatch:
    """Bounds request-body reads: each within `chunk_timeout`, all of one body by its deadline."""

    def __init__(self, chunk_timeout: float, body_timeout: float) -> None:
        if chunk_timeout <= 0 or body_timeout <= 0:
            raise ValueError("body timeouts must be positive")
        self.chunk_timeout = chunk_timeout
        self.body_timeout = body_timeout
        self.interval = min(chunk_timeout, body_timeout) / 4
        #: Reads in progress: the reading task and the loop time it must finish by.
        self._waiting: dict[asyncio.Task[object], float] = {}
        #: Tasks this watch cancelled (their CancelledError becomes the 408).
        self._expired: set[asyncio.Task[object]] = set()
        self._checker: asyncio.Task[None] | None = None

    def deadline(self) -> float:
        """The loop time by which a body whose first read starts now must be complete."""
        return asyncio.get_running_loop().time() + self.body_timeout

    async def receive(self, receive: Receive, deadline: float) -> ReceiveMessage:
        """`await receive()` within the chunk timeout and by `deadline`, else RequestTimeout."""
        task = asyncio.current_task()
        if task is None:  # not in a task (never under an ASGI server): nothing to cancel
            return await receive()
        loop = task.get_loop()
        self._waiting[task] = min(loop.time() + self.chunk_timeout, deadline)
        checker = self._checker
        if checker is None or checker.done() or checker.get_loop() is not loop:
            self._checker = loop.create_task(self._check())
        try:
            return await receive()
        except asyncio.CancelledError:
            if task in self._expired:
                self._expired.discard(task)
                task.uncancel()
                raise RequestTimeout(self.chunk_timeout, self.body_timeout) from None
            raise
        finally:
            self._waiting.pop(task, None)
            self._expired.discard(task)

    async def _check(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            await asyncio.sleep(self.interval)
            now = loop.time()
            overdue = [task for task, by in self._waiting.items() if by <= now]
            for task in overdue:
                del self._waiting[task]
                self._expired.add(task)
                task.cancel()


def bounded_receive(watch: BodyWatch, receive: Receive) -> Receive:
    """`receive` with the body's reads bounded by `watch`; once the body is complete (or the client
    left), later calls (a handler waiting for the disconnect) are passed through unbounded."""
    deadline = 0.0
    done = False

    async def bounded() -> ReceiveMessage:
        nonlocal deadline, done
        if done:
            return await receive()
        if not deadline:
            deadline = watch.deadline()
        message = await watch.receive(receive, deadline)
        if message["type"] != "http.request" or not message.get("more_body", False):
            done = True
        return message

    return bounded


class BodyTimeoutMiddleware(ASGIMiddleware):
    """Bound every HTTP request's body reads (`BodyWatch`); a timeout becomes the 408 problem."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, chunk_timeout: float, body_timeout: float) -> None:
        self.watch = BodyWatch(chunk_timeout, body_timeout)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        await next_app(scope, bounded_receive(self.watch, receive), send)
