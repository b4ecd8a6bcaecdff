"""The forwarding hot path: raw ASGI, mounted under each `/v{major}` of the route table.

Per request: resolve the operation, run the policy chain, read the body (bounded), send it to the
upstream's shared client, and relay the answer through the response allow-list. A refusal is raised
as a ProblemError (Litestar renders problem+json with the correlation id) after it was audited.
Nothing here logs per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import unquote

import httpx
from litestar.types import Receive, Scope, Send

from gateway.audit import AuditLog
from gateway.errors import PayloadTooLarge
from gateway.exchange import Exchange
from gateway.headers import response_headers, upstream_headers
from gateway.policies import Policy
from gateway.routing import RouteTable
from gateway.upstreams import Upstream
from servicekit import (
    BadRequest,
    CircuitOpenError,
    ProblemError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    new_correlation_id,
)

__all__ = ["Gateway"]

#: Statuses that never carry a body, so never a Content-Length (RFC 9110 8.6).
_NO_BODY = frozenset({204, 304})


class Gateway:
    """Route table + policy chain + upstreams: the state the mounted ASGI handler runs on."""

    def __init__(
        self,
        routes: RouteTable,
        policies: Sequence[Policy],
        upstreams: dict[str, Upstream],
        audit: AuditLog,
        *,
        max_body_bytes: int,
        buffer_limit_bytes: int,
    ) -> None:
        self.routes = routes
        self.policies = tuple(policies)
        self.upstreams = upstreams
        self.audit = audit
        self.max_body_bytes = max_body_bytes
        self.buffer_limit_bytes = buffer_limit_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path = _raw_path(scope)
        path = unquote(raw_path)
        # Litestar handed the mount the path below the mount point; problem `instance`s should
        # show what the caller asked for.
        scope["path"] = path
        state = scope.get("state") or {}
        exchange = Exchange(scope, receive, path, raw_path, state.get("correlation_id") or new_correlation_id())
        try:
            operation = exchange.operation = self.routes.resolve(exchange.method, path)
            for policy in self.policies:
                await policy.apply(exchange)
            if exchange.body is None:
                exchange.body = await self._read_body(receive)
            upstream = self.upstreams[operation.upstream]
            response = await self._send(upstream, exchange, operation.upstream_path(raw_path))
            await self._relay(response, upstream, send)
        except ProblemError as error:
            await self.audit.refusal(exchange, error)
            raise

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                # Never forward half a body: the upstream would act on a request nobody sent.
                raise BadRequest(
                    "The client closed the connection before the request body was complete.",
                    slug="incomplete-body",
                    title="Incomplete request body",
                )
            chunk: bytes = message.get("body", b"")  # type: ignore[assignment]  # http.request body
            if chunk:
                size += len(chunk)
                if size > self.max_body_bytes:
                    raise PayloadTooLarge(self.max_body_bytes)
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _send(self, upstream: Upstream, exchange: Exchange, path: str) -> httpx.Response:
        url = path if not exchange.query else f"{path}?{exchange.query.decode('latin-1')}"
        client = upstream.client
        request = client.build_request(
            exchange.method, url, headers=upstream_headers(exchange), content=exchange.body or None
        )
        try:
            return await client.send(request, stream=True)
        except CircuitOpenError:
            raise UpstreamUnavailable(
                f"The {upstream.name} service failed repeatedly; calls are paused for a few seconds.",
                slug="circuit-open",
                title="Upstream circuit open",
                headers={"Retry-After": str(max(1, round(upstream.breaker.cooldown)))},
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise UpstreamUnavailable(f"The {upstream.name} service is not reachable.") from None
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"The {upstream.name} service did not answer in time.") from None
        except httpx.HTTPError:
            raise UpstreamError(f"The {upstream.name} service broke off the exchange.") from None

    async def _relay(self, response: httpx.Response, upstream: Upstream, send: Send) -> None:
        headers = response_headers(response.headers.raw, upstream.origin)
        encoded = "content-encoding" in response.headers
        length = response.headers.get("content-length")
        try:
            if not encoded and length is not None and length.isdigit() and int(length) <= self.buffer_limit_bytes:
                try:
                    body = await response.aread()
                except httpx.HTTPError:
                    raise UpstreamError(f"The {upstream.name} service broke off its answer.") from None
                if response.status_code not in _NO_BODY:
                    headers.append((b"content-length", str(len(body)).encode()))
                await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            if not encoded and length is not None and length.isdigit() and response.status_code not in _NO_BODY:
                headers.append((b"content-length", length.encode()))
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            # An upstream that (against our `identity`) compressed gets decoded: the caller never
            # sees a Content-Encoding the gateway did not agree to.
            chunks = response.aiter_bytes() if encoded else response.aiter_raw()
            async for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except httpx.HTTPError:
            # Broken off mid-response: end without completing it, so the server drops the connection
            # and the caller sees a truncated answer, never a silently short one.
            return
        finally:
            await response.aclose()


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if not raw:
        return scope.get("root_path", "") + scope["path"]
    # Some servers and test transports include the query string in raw_path.
    return raw.split(b"?", 1)[0].decode("latin-1")
