"""The per-request context the policy chain reads and fills, and the proxy forwards."""

from __future__ import annotations

from collections.abc import Iterable

from litestar.types import Receive, Scope

from gateway.routing import Operation
from servicekit import TokenClaims

__all__ = ["Exchange"]


class Exchange:
    """One request through the gateway. Slots only: it is created on the hot path for every call.

    `path` is the decoded path (what the route table matches), `raw_path` the path as sent (what is
    forwarded). Policies set `token`, `claims`, and may replace `body`.
    """

    __slots__ = (
        "body",
        "claims",
        "correlation_id",
        "headers",
        "method",
        "operation",
        "path",
        "query",
        "raw_path",
        "receive",
        "scope",
        "token",
    )

    def __init__(self, scope: Scope, receive: Receive, path: str, raw_path: str, correlation_id: str) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]  # type: ignore[typeddict-item]  # mounted for HTTP scopes only
        self.path = path
        self.raw_path = raw_path
        self.query: bytes = scope.get("query_string", b"")
        self.headers: Iterable[tuple[bytes, bytes]] = scope["headers"]
        self.correlation_id = correlation_id
        self.operation: Operation | None = None
        self.token: str | None = None
        self.claims: TokenClaims | None = None
        self.body: bytes | None = None

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
