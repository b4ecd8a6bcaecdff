"""Which headers cross the gateway, in each direction (allow-lists, so hop-by-hop ones never do).

Requests: a few end-to-end headers are copied; identity (`X-Client-ID`, `X-Legal-Entities`) comes
only from verified claims; correlation id and trace context are set by the gateway (the trace
continues the caller's); `X-Forwarded-*` describe the caller. Responses: only the listed headers
come back, so an upstream's `Set-Cookie`, `Server` or hop-by-hop headers never reach a caller.
"""

from __future__ import annotations

from contracts.headers import CORRELATION_ID
from gateway.exchange import Exchange
from servicekit import outgoing_headers

__all__ = ["REQUEST_HEADERS", "RESPONSE_HEADERS", "response_headers", "upstream_headers"]

#: Copied from the caller as they are. `Authorization` is not copied but re-set to the one token the
#: gateway verified (the upstream verifies it again), so a second, unverified one never gets through.
REQUEST_HEADERS = frozenset({b"content-type", b"accept", b"idempotency-key"})
#: Returned to the caller (plus every `ratelimit*` header). The correlation id is echoed by the
#: gateway's own middleware, so the upstream's copy is not repeated.
RESPONSE_HEADERS = frozenset(
    {b"content-type", b"location", b"cache-control", b"retry-after", b"deprecation", b"sunset", b"link"}
)


def upstream_headers(exchange: Exchange) -> list[tuple[bytes, bytes]]:
    """The headers of the upstream request built from the caller's request and the verified claims."""
    headers = [(name, value) for name, value in exchange.headers if name in REQUEST_HEADERS]
    if exchange.token is not None:
        headers.append((b"authorization", b"Bearer " + exchange.token.encode("latin-1")))
    for name, value in outgoing_headers().items():
        if name != CORRELATION_ID:
            headers.append((name.encode("latin-1"), value.encode("latin-1")))
    headers.append((b"x-correlation-id", exchange.correlation_id.encode("latin-1")))
    scope = exchange.scope
    client = scope.get("client")
    if client:
        headers.append((b"x-forwarded-for", client[0].encode("latin-1")))
    headers.append((b"x-forwarded-proto", scope.get("scheme", "http").encode("latin-1")))
    host = exchange.header(b"host")
    if host is not None:
        headers.append((b"x-forwarded-host", host))
    claims = exchange.claims
    if claims is not None:
        headers.append((b"x-client-id", claims.client_id.encode("latin-1", "replace")))
        headers.append((b"x-legal-entities", ",".join(sorted(claims.legal_entities)).encode("latin-1", "replace")))
    return headers


def response_headers(raw: list[tuple[bytes, bytes]], upstream_origin: bytes) -> list[tuple[bytes, bytes]]:
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
