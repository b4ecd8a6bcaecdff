"""What the sync and async clients share: settings, token cache, retry decisions, answer handling.

Retry policy (only what is safe): a request is repeated on a connect failure, 429, 502, 503 or 504
when it is safe to repeat: GET/HEAD/OPTIONS/PUT/DELETE always, a POST only when it carries an
`Idempotency-Key` (the gateway replays the first answer for a repeated key). `Retry-After`
(seconds or an HTTP date) is honoured: never repeated sooner, and not at all when it is longer than
`max_backoff` (the error then carries `retry_after`); otherwise backoff doubles up to `max_backoff`.
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar

import msgspec

from contracts.client.errors import ApiDeprecationWarning, RateLimited, error_for

__all__ = [
    "ClientSettings",
    "TokenCache",
    "decode_answer",
    "encode",
    "request_headers",
    "retry_delay",
    "run_path",
    "warn_deprecation",
]

T = TypeVar("T")

CORRELATION_HEADER = "X-Correlation-ID"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ClientSettings(msgspec.Struct, kw_only=True, frozen=True):
    """Where and as whom the client calls, and how patiently.

    `base_url` is the gateway (or a service) root; `version` pins the API major version (`v1`, `v2`).
    `token_url` + `client_id` + `client_secret` fetch client-credentials tokens; or pass `token` to
    use a fixed one (then a 401 is final).
    """

    base_url: str
    version: Literal["v1", "v2"] = "v2"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    token: str | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.2
    max_backoff: float = 10.0
    #: Refresh a token this many seconds before it expires.
    token_skew: float = 30.0


class TokenCache:
    """One access token and its expiry; `form`/`store` are the transport-free halves of a fetch."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.token: str | None = settings.token
        self.expires_at = float("inf") if settings.token else 0.0

    @property
    def can_fetch(self) -> bool:
        s = self.settings
        return bool(s.token_url and s.client_id and s.client_secret)

    def valid(self, now: float | None = None) -> str | None:
        now = time.monotonic() if now is None else now
        return self.token if self.token and now < self.expires_at - self.settings.token_skew else None

    def form(self) -> dict[str, str]:
        return {"grant_type": "client_credentials", **({"scope": self.settings.scope} if self.settings.scope else {})}

    def store(self, status: int, body: bytes) -> str:
        if status != 200:
            raise error_for(status, "application/json", body, None)
        answer = msgspec.json.decode(body)
        self.token = str(answer["access_token"])
        self.expires_at = time.monotonic() + float(answer.get("expires_in", 300))
        return self.token

    def invalidate(self) -> None:
        if self.can_fetch:
            self.token, self.expires_at = None, 0.0


def request_headers(*, material: bool, idempotency_key: str | None, correlation_id: str | None) -> dict[str, str]:
    """Headers of one call: a correlation id always, an Idempotency-Key on financially material calls."""
    headers = {CORRELATION_HEADER: correlation_id or uuid.uuid4().hex, "Accept": "application/json"}
    if material or idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key or str(uuid.uuid4())
    return headers


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def retry_delay(
    settings: ClientSettings,
    method: str,
    headers: Mapping[str, str],
    attempt: int,
    *,
    status: int | None,
    answer_headers: Mapping[str, str] | None = None,
) -> float | None:
    """Seconds to wait before repeating, or None when the call must not (or need not) be repeated.

    `status` None means no HTTP answer (connect or read failure).
    """
    if attempt >= settings.retries:
        return None
    safe = method.upper() in _SAFE_METHODS or IDEMPOTENCY_HEADER in headers
    if not safe or (status is not None and status not in _RETRY_STATUSES):
        return None
    told = _retry_after(answer_headers or {})
    if told is not None:
        # Never sooner than the server said; when that is beyond our patience, give up and let the
        # caller see `retry_after` on the error instead of blocking for it.
        return told if told <= settings.max_backoff else None
    return min(settings.backoff * float(2**attempt), settings.max_backoff)


def warn_deprecation(headers: Mapping[str, str], where: str, seen: set[str]) -> None:
    """Warn (once per operation and client) when the answer carries `Deprecation` or `Sunset`."""
    deprecation, sunset = headers.get("deprecation"), headers.get("sunset")
    if (deprecation or sunset) and where not in seen:
        seen.add(where)
        parts = [f"deprecated ({deprecation})" if deprecation else "", f"sunset {sunset}" if sunset else ""]
        link = headers.get("link")
        message = f"{where}: the API version is " + " and ".join(p for p in parts if p)
        warnings.warn(message + (f"; see {link}" if link else ""), ApiDeprecationWarning, stacklevel=4)


def decode_answer(status: int, headers: Mapping[str, str], body: bytes, model: type[T]) -> T:
    """The decoded 2xx body, or the typed error of any other answer."""
    if 200 <= status < 300:
        return msgspec.json.decode(body, type=model)
    error = error_for(status, headers.get("content-type", ""), body, headers.get("x-correlation-id"))
    if isinstance(error, RateLimited):
        error.retry_after = _retry_after(headers)
    raise error


def run_path(version: str, run_id: str | None = None) -> str:
    base = f"/{version}/quote-to-cash/runs"
    return base if run_id is None else f"{base}/{run_id}"


def encode(body: Any) -> bytes:
    return msgspec.json.encode(body)
