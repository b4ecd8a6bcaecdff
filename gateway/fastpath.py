"""The forwarding fast path: `/v{major}/...` bypasses Litestar's router and middleware stack.

Measured (bench/gateway/profile.sh): on the proxied path Litestar's routing, its exception
middleware and the per-request OpenTelemetry span + correlation middleware took about a third of
the worker's time. Installed as the app's `asgi_handler`, this class sends versioned paths straight
to `gateway.proxy.Gateway.handle` and everything else (health, schema) through Litestar as before.
It does here what the skipped middleware did: accept or mint `X-Correlation-ID` (echoed on the
answer, set in the correlation context), and render a refusal as problem+json with the
correlation id. Trace context is continued by `gateway.headers` (same trace id, new parent id).
"""

from __future__ import annotations

import logging

import msgspec
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from contracts.headers import PROBLEM_JSON
from servicekit import ProblemError, correlation_id, new_correlation_id
from servicekit.problems import problem_of

__all__ = ["FastPath", "problem_body", "versioned"]

log = logging.getLogger("gateway.fastpath")

_CID = b"x-correlation-id"
_MAX_ID = 128
_PROBLEM_TYPE = PROBLEM_JSON.encode()


def versioned(path: str) -> bool:
    """`/v<digits>` or `/v<digits>/...`: a path the route table may hold."""
    if len(path) < 3 or path[1] != "v" or not path[2].isdigit():
        return False
    end = 3
    while end < len(path) and path[end].isdigit():
        end += 1
    return end == len(path) or path[end] == "/"


def problem_body(error: ProblemError, instance: str, cid: str) -> bytes:
    """The RFC 9457 body servicekit would render for `error`."""
    return msgspec.json.encode(problem_of(error, instance=instance, correlation_id=cid))


class FastPath:
    """ASGI handler: versioned HTTP paths to the gateway, the rest to Litestar's own handler."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or not versioned(scope["path"]):
            await self.inner(scope, receive, send)
            return
        await self.forward(scope, receive, send)

    async def forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run a versioned HTTP request through the gateway (`scope["app"]` is the Litestar app)."""
        cid = None
        for name, value in scope["headers"]:
            if name == _CID:
                cid = value.decode("latin-1")[:_MAX_ID]
                break
        cid = cid or new_correlation_id()
        scope["state"]["correlation_id"] = cid
        echo = (_CID, cid.encode("latin-1"))
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        token = correlation_id.set(cid)
        try:
            await scope["app"].state.gateway.handle(scope, receive, send_with_id)
        except ProblemError as error:
            if started:
                return
            body = problem_body(error, scope["path"], cid)
            headers = [(b"content-type", _PROBLEM_TYPE), (b"content-length", str(len(body)).encode())]
            headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())
            await send_with_id({"type": "http.response.start", "status": error.status, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body, "more_body": False})
        except Exception:
            log.exception("gateway request failed", extra={"path": scope["path"]})
            if started:
                return
            failure = ProblemError("The gateway failed to handle the request.")
            body = problem_body(failure, scope["path"], cid)
            headers = [(b"content-type", _PROBLEM_TYPE), (b"content-length", str(len(body)).encode())]
            await send_with_id({"type": "http.response.start", "status": 500, "headers": headers})
            await send_with_id({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            correlation_id.reset(token)
