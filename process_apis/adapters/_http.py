"""One boundary for calls to a system API: strict decoding and HTTP problems to typed errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import msgspec

from contracts import Problem
from contracts.headers import IDEMPOTENCY_KEY
from process_apis.errors import (
    DownstreamInvalid,
    DownstreamRejected,
    DownstreamUnavailable,
    ProcessError,
)
from servicekit import ServiceError

__all__ = ["SystemApi"]

T = TypeVar("T")

_encoder = msgspec.json.Encoder()
_problem = msgspec.json.Decoder(Problem)
#: Statuses that say "try again later" rather than "no".
_TRANSIENT = frozenset({408, 425, 429})


class SystemApi:
    """A named system API reached through one shared httpx client (auth, context headers, retries)."""

    def __init__(self, http: httpx.AsyncClient, service: str) -> None:
        self.http = http
        self.service = service

    async def call(
        self,
        method: str,
        path: str,
        result: type[T],
        *,
        decode: Callable[[bytes], T] | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
        on_404: Callable[[str], ProcessError] | None = None,
    ) -> T:
        """Send one request and decode a 2xx body strictly into `result`.

        `decode` replaces the default strict msgspec decoding of `result`.
        Raises DownstreamUnavailable (connect failure, timeout, 5xx, 429), `on_404(detail)` or
        DownstreamRejected (other 4xx, carrying the problem detail), DownstreamInvalid (bad 2xx body).
        """
        headers = {IDEMPOTENCY_KEY: idempotency_key} if idempotency_key else {}
        content = _encoder.encode(body) if body is not None else None
        if content is not None:
            headers["content-type"] = "application/json"
        try:
            response = await self.http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise DownstreamUnavailable(
                f"{self.service} API unreachable for {method} {path}: {type(exc).__name__}: {exc}",
                service=self.service,
            ) from exc
        except ServiceError as exc:
            # ClientCredentialsAuth raises UpstreamUnavailable when the identity provider is down.
            raise DownstreamUnavailable(
                f"{self.service} API call {method} {path} has no service token: {exc}", service=self.service
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            try:
                if decode is not None:
                    return decode(response.content)
                return msgspec.json.decode(response.content, type=result, strict=True)
            except msgspec.DecodeError as exc:
                raise DownstreamInvalid(
                    f"{self.service} API answered {method} {path} outside its contract: {exc}",
                    service=self.service,
                    downstream_status=status,
                ) from exc
        detail = _detail(response)
        message = f"{self.service} API answered {status} to {method} {path}: {detail}"
        if status >= 500 or status in _TRANSIENT:
            raise DownstreamUnavailable(
                message, service=self.service, downstream_status=status, retry_after=_retry_after(response)
            )
        if status == 404 and on_404 is not None:
            raise on_404(detail)
        raise DownstreamRejected(message, service=self.service, downstream_status=status)


def _detail(response: httpx.Response) -> str:
    """The problem's detail (or title) when the body is problem+json, else a short text excerpt."""
    try:
        problem = _problem.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:300] or response.reason_phrase
    return problem.detail or problem.title


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After` in seconds (delta form; an HTTP date is rare between our services and ignored)."""
    raw = response.headers.get("retry-after")
    try:
        return max(0.0, float(raw)) if raw is not None else None
    except ValueError:
        return None
