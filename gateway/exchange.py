"""The per-request context the policy chain reads and fills, and the proxy forwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import msgspec
from litestar.types import Receive, Scope

from gateway.errors import PayloadTooLarge
from servicekit import BadRequest, TokenClaims
from servicekit.slowbody import BodyWatch

if TYPE_CHECKING:
    from gateway.catalogue import Operation, Route
    from gateway.runtime import Runtime

__all__ = ["Exchange"]


class Exchange:
    """One request through the gateway. Slots only: it is created on the hot path for every call.

    `path` is the decoded path (what the route table matches), `raw_path` the path as sent (what is
    forwarded). `runtime` is the configuration snapshot the whole request uses (a reload mid-request
    does not mix two). Policies set `token`, `claims`, `client`, may read the `body` (then it is
    kept and forwarded), add `response_headers`, and register `on_response` (idempotency stores the
    answer) or `on_refusal` (it releases its key).
    """

    __slots__ = (
        "body",
        "claims",
        "client",
        "correlation_id",
        "deadline",
        "headers",
        "json",
        "max_body",
        "method",
        "on_refusal",
        "on_response",
        "operation",
        "path",
        "path_params",
        "query",
        "raw_path",
        "receive",
        "refused_by",
        "replay",
        "response_headers",
        "route",
        "runtime",
        "scope",
        "started",
        "status",
        "token",
        "upstream_token",
        "watch",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        path: str,
        raw_path: str,
        correlation_id: str,
        *,
        runtime: Runtime,
        max_body: int,
        watch: BodyWatch,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]  # type: ignore[typeddict-item]  # mounted for HTTP scopes only
        self.path = path
        self.raw_path = raw_path
        self.query: bytes = scope.get("query_string", b"")
        self.headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
        self.correlation_id = correlation_id
        self.runtime = runtime
        self.max_body = max_body
        #: Bounds each body read and the whole body (408 past either).
        self.watch = watch
        #: Loop time by which the whole body must have arrived (0: no chunk read yet).
        self.deadline = 0.0
        self.route: Route | None = None
        self.operation: Operation | None = None
        self.path_params: dict[str, str] = {}
        self.token: str | None = None
        #: What the upstream receives as bearer token instead of `token` (the exchanged one), if set.
        self.upstream_token: str | None = None
        self.claims: TokenClaims | None = None
        self.client: Any = None
        self.body: bytes | None = None
        #: The decoded JSON body once a policy parsed it (`...` = not parsed yet).
        self.json: Any = ...
        self.response_headers: list[tuple[bytes, bytes]] = []
        #: A stored answer to send instead of calling the upstream: (status, headers, body).
        self.replay: tuple[int, list[tuple[bytes, bytes]], bytes] | None = None
        self.on_response: Any = None
        self.on_refusal: Any = None
        #: Whether the answer's start has been sent (after that, a failure can only cut it short).
        self.started = False
        #: The status answered (0 until known), for metrics and spans.
        self.status = 0
        #: The policy that refused the request (its class name without `Policy`, lower case), if one did.
        self.refused_by: str | None = None

    async def read_body(self) -> bytes:
        """The whole request body (read once, at most `max_body` bytes, else 413)."""
        if self.body is None:
            body = await self.body_or_stream(None)
            assert isinstance(body, bytes)  # no limit: never streamed
        return self.body or b""

    async def _next_chunk(self, size: int) -> tuple[bytes, bool, int]:
        """One piece of the body: (chunk, more to come, bytes so far); 400 on a disconnect, 413 past
        `max_body`, 408 when it does not arrive within the chunk timeout or the body's deadline."""
        if not self.deadline:
            self.deadline = self.watch.deadline()
        message = await self.watch.receive(self.receive, self.deadline)
        if message["type"] == "http.disconnect":
            # Never forward half a body: the upstream would act on a request nobody sent.
            raise BadRequest(
                "The client closed the connection before the request body was complete.",
                slug="incomplete-body",
                title="Incomplete request body",
            )
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]  # http.request body
        size += len(chunk)
        if size > self.max_body:
            raise PayloadTooLarge(self.max_body)
        return chunk, bool(message.get("more_body", False)), size

    def has_body(self) -> bool:
        """Whether the request carries a body (read already, or declared by its headers)."""
        if self.body is not None:
            return bool(self.body)
        length = self.header(b"content-length")
        return (length is not None and length != b"0") or self.header(b"transfer-encoding") is not None

    def declared_length(self) -> int | None:
        length = self.header(b"content-length")
        return int(length) if length is not None and length.isdigit() else None

    async def body_or_stream(self, limit: int | None) -> bytes | AsyncIterator[bytes]:
        """The body whole (kept as `body`) if it ends within `limit` bytes (None: any size), else
        streamed from its start: the first `limit` bytes are held (never forwarded half-read), the
        rest flows as it arrives."""
        held: list[bytes] = []
        size = 0
        while True:
            chunk, more, size = await self._next_chunk(size)
            if chunk:
                held.append(chunk)
            if not more:
                self.body = held[0] if len(held) == 1 else b"".join(held)
                return self.body
            if limit is not None and size > limit:
                return self.stream_body(held, size)

    async def stream_body(self, held: list[bytes] | None = None, size: int = 0) -> AsyncIterator[bytes]:
        """The body as it arrives (after `held`, `size` bytes already read), not kept; at most `max_body`."""
        for chunk in held or ():
            yield chunk
        more = True
        while more:
            chunk, more, size = await self._next_chunk(size)
            if chunk:
                yield chunk

    async def json_body(self) -> Any:
        """The body decoded as JSON (None when empty); 400 `malformed-json` when it is not JSON."""
        if self.json is ...:
            body = await self.read_body()
            if not body:
                self.json = None
            else:
                try:
                    self.json = msgspec.json.decode(body)
                except msgspec.DecodeError as exc:
                    raise BadRequest(
                        f"The request body is not valid JSON: {exc}", slug="malformed-json", title="Malformed JSON"
                    ) from None
        return self.json

    def header(self, name: bytes) -> bytes | None:
        """The first value of a (lower-case) request header."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def client_id(self) -> str:
        """The verified client, or `-` before authentication succeeded."""
        return self.claims.client_id if self.claims is not None else "-"
