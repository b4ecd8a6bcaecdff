"""Fault injection: the next N calls matching a method and path pattern misbehave on purpose.

Kinds and what the caller sees:
  latency        the call is delayed by `latency_ms`, then served normally
  error          HTTP `status` (5xx, default 500) in Anaplan's error envelope
  throttle       429 Too Many Requests
  busy           409 model busy
  expired_token  401, and the presented token really expires (a retry with it fails too)
  malformed      200 with a truncated JSON body
Rules live in memory only (not in the persisted state) and are consumed in the order added.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
from typing import Annotated, Literal

import msgspec
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ["FaultBook", "FaultKind", "FaultMiddleware", "FaultRule"]

FaultKind = Literal["latency", "error", "throttle", "busy", "expired_token", "malformed"]


class FaultRule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`path` is a glob where `*` also crosses `/`, e.g. `/2/0/*/imports/*/tasks`."""

    path: str
    kind: FaultKind
    method: str = "*"
    times: Annotated[int, msgspec.Meta(ge=1)] = 1
    status: Annotated[int, msgspec.Meta(ge=500, le=599)] = 500
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method.upper() == method) and fnmatch.fnmatchcase(path, self.path)


class FaultBook:
    """The armed rules; `take` consumes one use of the first rule that matches."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    if rule.times <= 0:
                        self.rules.remove(rule)
                    return rule
        return None


class FaultMiddleware(ASGIMiddleware):
    """Applies armed faults to vendor paths (never to `/__admin/` or health)."""

    scopes = (ScopeType.HTTP,)

    @staticmethod
    def should_bypass_for_scope(scope: Scope) -> bool:
        return scope.get("path", "").startswith(("/__admin/", "/health/"))

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        app = scope["app"]
        book: FaultBook = app.state.faults
        rule = book.take(str(scope.get("method", "GET")), scope["path"])
        if rule is None:
            await next_app(scope, receive, send)
            return
        if rule.kind == "latency":
            await asyncio.sleep(rule.latency_ms / 1000)
            await next_app(scope, receive, send)
            return
        if rule.kind == "malformed":
            await _send_json(send, 200, b'{"meta": {"schema": "')
            return
        if rule.kind == "expired_token":
            kind, _, token = _header(scope, b"authorization").partition(" ")
            if kind == "AnaplanAuthToken" and token:
                app.state.store.expire_token(token.strip())
        status, message = {
            "error": (rule.status, "Internal Server Error"),
            "throttle": (429, "Too many requests: the tenant's request rate limit was exceeded"),
            "busy": (409, "The model is busy with another action; retry later"),
            "expired_token": (401, "Authentication failed: the token has expired"),
        }[rule.kind]
        await _send_json(send, status, msgspec.json.encode({"status": {"code": status, "message": message}}))


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""
