"""Which headers cross the gateway, in each direction (allow-lists, so hop-by-hop ones never do).

Requests: a few end-to-end headers are copied; identity (`X-Client-ID`, `X-Legal-Entities`) comes
only from verified claims; correlation id and trace context are set by the gateway (the trace
continues the caller's); `X-Forwarded-*` describe the caller. Responses: only the listed headers
come back, so an upstream's `Set-Cookie`, `Server` or hop-by-hop headers never reach a caller.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from gateway.exchange import Exchange

__all__ = ["REQUEST_HEADERS", "RESPONSE_HEADERS", "response_headers", "upstream_headers"]

_HEX = re.compile(r"[0-9a-f]+")

#: Copied from the caller as they are. `Authorization` is not copied but re-set to the token the
#: gateway obtained for the upstream in exchange for the one it verified (or, with no upstream
#: audience configured, to the verified token itself); the upstream verifies it again.
REQUEST_HEADERS = frozenset({b"content-type", b"accept", b"idempotency-key"})
#: Returned to the caller (plus every `ratelimit*` header). The correlation id is echoed by the
#: gateway's own middleware, so the upstream's copy is not repeated.
RESPONSE_HEADERS = frozenset(
    {b"content-type", b"location", b"cache-control", b"retry-after", b"deprecation", b"sunset", b"link"}
)


def upstream_headers(exchange: Exchange) -> list[tuple[str, str]]:
    """The headers of the upstream request built from the caller's request and the verified claims."""
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in exchange.headers if n in REQUEST_HEADERS]
    token = exchange.upstream_token or exchange.token
    if token is not None:
        headers.append(("authorization", "Bearer " + token))
    headers.append(("traceparent", _traceparent(exchange.header(b"traceparent"))))
    tracestate = exchange.header(b"tracestate")
    if tracestate is not None:
        headers.append(("tracestate", tracestate.decode("latin-1")))
    headers.append(("x-correlation-id", exchange.correlation_id))
    scope = exchange.scope
    client = scope.get("client")
    if client:
        headers.append(("x-forwarded-for", client[0]))
    headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
    host = exchange.header(b"host")
    if host is not None:
        headers.append(("x-forwarded-host", host.decode("latin-1")))
    claims = exchange.claims
    if claims is not None:
        headers.append(("x-client-id", claims.client_id))
        headers.append(("x-legal-entities", ",".join(sorted(claims.legal_entities))))
    return headers


def _traceparent(incoming: bytes | None) -> str:
    """Continue the caller's W3C trace (same trace id and flags, the gateway's hop as new parent id),
    or start one."""
    parent = os.urandom(8).hex()
    if incoming is not None:
        parts = incoming.decode("latin-1").strip().split("-")
        if len(parts) >= 4 and len(parts[1]) == 32 and _HEX.fullmatch(parts[1]) and parts[1] != "0" * 32:
            return f"00-{parts[1]}-{parent}-{parts[3][:2]}"
    return f"00-{os.urandom(16).hex()}-{parent}-01"


def response_headers(raw: Iterable[tuple[bytes, bytes]], upstream_origin: bytes) -> list[tuple[bytes, bytes]]:
    """The allow-listed upstream response headers; a `Location` on the upstream's origin becomes a path."""
    kept = []
    for raw_name, value in raw:
        name = raw_name.lower()
        if name in RESPONSE_HEADERS or name.startswith(b"ratelimit"):
            if name == b"location" and value.startswith(upstream_origin):
                kept.append((name, value[len(upstream_origin) :] or b"/"))
            else:
                kept.append((name, value))
    return kept
