"""The forwarding hot path: raw ASGI, mounted under each `/v{major}` of the route table.

Per request: resolve the operation, run the policy chain, read the body (bounded; request bodies
are buffered, at most `max_body_bytes`), send it to the upstream's shared client, and relay the
answer through the response allow-list (buffered up to `buffer_limit_bytes`, streamed above). A refusal is raised
as a ProblemError (Litestar renders problem+json with the correlation id) after it was audited.
Nothing here logs per request but the access-log line (`FIG_ACCESS_LOG`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from urllib.parse import unquote

import aiohttp
import msgspec
from litestar.types import Message, Receive, Scope, Send
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from contracts.headers import PROBLEM_JSON
from gateway.audit import AuditLog
from gateway.catalogue import Operation
from gateway.exchange import Exchange
from gateway.headers import response_headers, upstream_headers
from gateway.policies import Policy, report_response
from gateway.redisbatch import RedisBatcher
from gateway.runtime import Runtime
from gateway.telemetry import GatewayTelemetry
from gateway.upstreams import Upstream
from servicekit import ProblemError, UpstreamError
from servicekit.middleware import ACCESS_LOGGER, log_access
from servicekit.problems import problem_of
from servicekit.slowbody import BodyWatch

__all__ = ["Gateway", "problem_body"]

log = logging.getLogger("gateway.proxy")

_CID = b"x-correlation-id"
_PROBLEM_TYPE = PROBLEM_JSON.encode()

#: Statuses that never carry a body, so never a Content-Length (RFC 9110 8.6).
_NO_BODY = frozenset({204, 304})


class Gateway:
    """Runtime (route table, clients, issuers) + policy chain + upstreams: what the ASGI mount runs on.

    `runtime` is replaced as a whole on reload (`apply`); each request reads it once.
    """

    def __init__(
        self,
        runtime: Runtime,
        policies: Sequence[Policy],
        upstreams: dict[str, Upstream],
        audit: AuditLog,
        batcher: RedisBatcher,
        *,
        max_body_bytes: int,
        buffer_limit_bytes: int,
        store_limit_bytes: int = 1_048_576,
        body_timeouts: tuple[float, float] = (5.0, 30.0),
        access_log: bool = False,
    ) -> None:
        self.runtime = runtime
        self.policies = tuple(policies)
        #: What runs before an unroutable request's 404/405: size/shape and authentication.
        self.before_routing = tuple(p for p in self.policies if getattr(p, "before_routing", False))
        self.upstreams = upstreams
        self.audit = audit
        self.batcher = batcher
        self.max_body_bytes = max_body_bytes
        self.buffer_limit_bytes = buffer_limit_bytes
        self.store_limit_bytes = store_limit_bytes
        #: Bounds request body reads: (seconds for each chunk, seconds for the whole body), then 408.
        self.body_watch = BodyWatch(*body_timeouts)
        self.telemetry = GatewayTelemetry()
        #: One access-log line per request (`FIG_ACCESS_LOG`; off, at no cost, when the log level hides it).
        self.access_log = access_log and logging.getLogger(ACCESS_LOGGER).isEnabledFor(logging.INFO)

    def apply(self, runtime: Runtime) -> None:
        """Swap in a reloaded runtime (the caller adds clients for new upstreams first)."""
        self.runtime = runtime

    async def handle(self, scope: Scope, receive: Receive, send: Send, correlation_id: str) -> None:
        """Answer one proxied request: the upstream's answer, a stored replay, or a problem+json refusal.

        Every answer carries `X-Correlation-ID: correlation_id`. Refusals are audited first.
        With metrics on, one duration record per request; with tracing on, the server span (opened
        by the ASGI instrumentation) gets the route and the policy outcome.
        """
        started = time.perf_counter()
        raw_path = _raw_path(scope)
        path = unquote(raw_path)
        # Problem `instance`s show the decoded path the caller asked for.
        scope["path"] = path
        exchange = Exchange(
            scope,
            receive,
            path,
            raw_path,
            correlation_id,
            runtime=self.runtime,
            max_body=self.max_body_bytes,
            watch=self.body_watch,
        )
        echo = (_CID, correlation_id.encode("latin-1"))
        exchange.response_headers.append(echo)
        refusal: ProblemError | None = None
        failed = False
        out = send
        if self.telemetry.tracing:
            # The server span ends with the answer's last message: annotate it when the answer starts.
            span = trace.get_current_span()

            async def out(message: Message) -> None:
                if message["type"] == "http.response.start" and span.is_recording():
                    self._annotate(span, exchange, refusal, failed)
                await send(message)

        try:
            await self._answer(exchange, out)
        except ProblemError as error:
            refusal = error
            if exchange.on_refusal is not None:
                await exchange.on_refusal()
            await self.audit.refusal(exchange, error)
            if not exchange.started:
                exchange.status = error.status
                # A deprecated version's refusals carry its lifecycle headers too, as its answers do.
                lifecycle = exchange.route.deprecation_headers if exchange.route is not None else ()
                await _send_problem(out, error, path, correlation_id, echo, lifecycle=lifecycle)
        except Exception:
            log.exception("gateway request failed", extra={"path": path})
            failed = True
            if not exchange.started:
                failure = ProblemError("The gateway failed to handle the request.")
                exchange.status = failure.status
                await _send_problem(out, failure, path, correlation_id, echo)
        if self.telemetry.metrics:
            self._observe(exchange, refusal, failed, time.perf_counter() - started)
        if self.access_log:
            claims = exchange.claims
            log_access(
                method=exchange.method,
                route=exchange.operation.template if exchange.operation is not None else "-",
                status=exchange.status,
                started=started,
                client=claims.client_id if claims is not None else None,
                subject=claims.subject if claims is not None else None,
                legal_entities=",".join(sorted(claims.legal_entities)) if claims is not None else None,
            )

    def _observe(self, exchange: Exchange, refusal: ProblemError | None, failed: bool, seconds: float) -> None:
        """Record the request's metrics: its duration, and a refusal or replay when there was one."""
        outcome, policy, reason = _outcome(exchange, refusal, failed)
        operation = exchange.operation
        route = operation.template if operation is not None else "-"
        upstream = operation.upstream if operation is not None else "-"
        self.telemetry.observe(seconds, (exchange.method, route, exchange.status, upstream, outcome))
        if refusal is not None:
            self.telemetry.refusals.add(1, {"fig.gateway.policy": policy, "fig.gateway.reason": reason})
            if policy == "ratelimit":
                self.telemetry.rate_limited.add(1, {"fig.client_id": exchange.client_id, "http.route": route})
        elif outcome == "replayed":
            self.telemetry.replays.add(1, {"http.route": route})

    def _annotate(self, span: Span, exchange: Exchange, refusal: ProblemError | None, failed: bool) -> None:
        """Name the server span by route template and add who asked and what the policies decided."""
        outcome, policy, reason = _outcome(exchange, refusal, failed)
        operation = exchange.operation
        route = operation.template if operation is not None else "-"
        span.update_name(f"{exchange.method} {route}")
        span.set_attributes(
            {
                "http.route": route,
                "fig.correlation_id": exchange.correlation_id,
                "fig.client_id": exchange.client_id,
                "fig.upstream": operation.upstream if operation is not None else "-",
                "fig.gateway.outcome": outcome,
                "fig.gateway.policy": policy,
                "fig.gateway.reason": reason,
            }
        )
        if exchange.claims is not None and exchange.claims.legal_entities:
            span.set_attribute("fig.legal_entities", ",".join(sorted(exchange.claims.legal_entities)))

    async def _answer(self, exchange: Exchange, send: Send) -> None:
        path, raw_path = exchange.path, exchange.raw_path
        try:
            route, operation, params = exchange.runtime.routes.resolve(exchange.method, path)
        except ProblemError:
            # 404/405 only to a caller who passes the checks that need no route.
            for policy in self.before_routing:
                await policy.apply(exchange)
            raise
        exchange.route, exchange.operation, exchange.path_params = route, operation, params
        for policy in self.policies:
            try:
                await policy.apply(exchange)
            except ProblemError:
                exchange.refused_by = type(policy).__name__.removesuffix("Policy").lower()
                raise
        if exchange.replay is not None:
            status, headers, body = exchange.replay
            await _send_whole(send, exchange, status, [*headers, *exchange.response_headers], body)
            return
        assert operation is not None  # the version policy refuses a request without one
        upstream = self.upstreams[operation.upstream]
        target = raw_path if not exchange.query else f"{raw_path}?{exchange.query.decode('latin-1')}"
        outgoing = await self._body(exchange)
        forwarded = upstream_headers(exchange)
        if self.telemetry.tracing:
            response = await self._traced_send(upstream, exchange, operation, target, forwarded, body=outgoing)
        else:
            response = await upstream.send(exchange.method, target, forwarded, outgoing)
        await self._relay(response, upstream, send, exchange, operation)

    async def _traced_send(
        self,
        upstream: Upstream,
        exchange: Exchange,
        operation: Operation,
        target: str,
        headers: list[tuple[str, str]],
        *,
        body: bytes | AsyncIterator[bytes] | None,
    ) -> aiohttp.ClientResponse:
        """The upstream call inside a CLIENT span (HTTP semantic conventions) that the upstream continues."""
        attributes: dict[str, str | int] = {
            "http.request.method": exchange.method,
            "server.address": upstream.host,
            "server.port": upstream.port,
            "url.full": upstream.url + exchange.raw_path,
            "http.route": operation.template,
            "fig.upstream": upstream.name,
            "fig.operation_id": operation.operation_id,
            "fig.correlation_id": exchange.correlation_id,
            "fig.client_id": exchange.client_id,
            "fig.gateway.outcome": "forwarded",
        }
        with self.telemetry.tracer.start_as_current_span(
            exchange.method, kind=SpanKind.CLIENT, attributes=attributes, record_exception=True
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            headers = [(n, v) for n, v in headers if n not in carrier] + list(carrier.items())
            response = await upstream.send(exchange.method, target, headers, body)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(response.status))
            return response

    async def _body(self, exchange: Exchange) -> bytes | AsyncIterator[bytes] | None:
        """The body to forward: as read by a policy, streamed when large and unread, else read whole.

        Streamed above `buffer_limit_bytes`: at once with a declared length (the size policy has
        checked it against the limit), or once that much of a chunked body has arrived. A streamed
        request is never retried (it cannot be replayed).
        """
        if exchange.body is None:
            if not exchange.has_body():
                return None  # nothing declared: no body to wait for
            length = exchange.declared_length()
            if length is None:
                body = await exchange.body_or_stream(self.buffer_limit_bytes)
                return body if not isinstance(body, bytes) else body or None
            if length > self.buffer_limit_bytes:
                return exchange.stream_body()
            await exchange.read_body()
        return exchange.body or None

    async def _relay(
        self, response: aiohttp.ClientResponse, upstream: Upstream, send: Send, exchange: Exchange, operation: Operation
    ) -> None:
        # Stored for idempotent replay: the upstream's part only (the gateway's own headers, such as
        # RateLimit, are added fresh to each answer).
        passed = response_headers(response.raw_headers, upstream.origin)
        headers = [*passed, *exchange.response_headers]
        status = exchange.status = response.status
        encoded = "Content-Encoding" in response.headers
        length = response.content_length
        # The whole answer is needed to store it (idempotency) or check it (report-only validation).
        keep = exchange.on_response is not None or operation.route.config.validate_responses
        limit = self.store_limit_bytes if keep else self.buffer_limit_bytes
        try:
            if not encoded and ((length is not None and length <= limit) or (keep and length is None)):
                try:
                    body = await response.read()
                except (aiohttp.ClientError, TimeoutError):
                    raise UpstreamError(f"The {upstream.name} service broke off its answer.") from None
                if keep:
                    if operation.route.config.validate_responses:
                        content_type = response.headers.get("Content-Type", "").encode("latin-1")
                        report_response(self.batcher, operation, status, content_type, body)
                    if exchange.on_response is not None:
                        on_response, exchange.on_response = exchange.on_response, None
                        exchange.on_refusal = None
                        await on_response(status, passed, body)
                await _send_whole(send, exchange, status, headers, body)
                return
            if exchange.on_response is not None:
                # Too large (or encoded) to store: the key is released, the answer streams through.
                on_response, exchange.on_response = exchange.on_response, None
                exchange.on_refusal = None
                await on_response(status, passed, None)
            if length is not None and status not in _NO_BODY:
                headers.append((b"content-length", str(length).encode()))
            if encoded:
                # Passed through as the upstream sent it (never decoded here), so its encoding goes too.
                headers.extend((n.lower(), v) for n, v in response.raw_headers if n.lower() == b"content-encoding")
            exchange.started = True
            await send({"type": "http.response.start", "status": status, "headers": headers})
            async for chunk in response.content.iter_any():
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (aiohttp.ClientError, TimeoutError):
            # Broken off mid-response: end without completing it, so the server drops the connection
            # and the caller sees a truncated answer, never a silently short one.
            return
        finally:
            response.release()


async def _send_whole(
    send: Send, exchange: Exchange, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    exchange.started = True
    exchange.status = status
    if status not in _NO_BODY:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _outcome(exchange: Exchange, refusal: ProblemError | None, failed: bool) -> tuple[str, str, str]:
    """(outcome, refusing policy, reason) of a request: forwarded, replayed, refused or failed."""
    if refusal is not None:
        policy = exchange.refused_by or ("routing" if exchange.operation is None else "-")
        return "refused", policy, refusal.problem_slug
    if failed:
        return "failed", "-", "-"
    return ("replayed" if exchange.replay is not None else "forwarded"), "-", "-"


def problem_body(error: ProblemError, instance: str, correlation_id: str) -> bytes:
    """The RFC 9457 body servicekit would render for `error`."""
    return msgspec.json.encode(problem_of(error, instance=instance, correlation_id=correlation_id))


async def _send_problem(
    send: Send,
    error: ProblemError,
    instance: str,
    correlation_id: str,
    echo: tuple[bytes, bytes],
    *,
    lifecycle: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    body = problem_body(error, instance, correlation_id)
    headers = [(b"content-type", _PROBLEM_TYPE), (b"content-length", str(len(body)).encode()), echo]
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items())
    if lifecycle:
        own = {name for name, _ in headers}
        headers.extend(h for h in lifecycle if h[0] not in own)
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _raw_path(scope: Scope) -> str:
    raw = scope.get("raw_path")
    if not raw:
        return scope.get("root_path", "") + scope["path"]
    # Some servers and test transports include the query string in raw_path.
    return raw.split(b"?", 1)[0].decode("latin-1")
