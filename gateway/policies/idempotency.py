"""Idempotency: financially material POSTs need an `Idempotency-Key`; the first answer is replayed.

Operations marked `x-financially-material: true` in their OpenAPI document require the header
(400 `missing-idempotency-key`). The key is scoped per client, method and path
(`fig:gateway:idem:{<client>}:<sha256(method path key)>`), and bound to a fingerprint of the body:
- new key: claimed "in flight" (atomically, one Lua script; expires after `lock_ttl` if this gateway
  dies), the request goes on; the upstream's final answer (status, allow-listed headers, body) is
  stored for `ttl` seconds. Final means the same request would always get it: a 2xx, 3xx or 4xx
  other than those that depend on the moment or the credentials (`RETRYABLE_STATUSES`: 401, 403,
  408, 409, 423, 425, 429). Any other answer - a 5xx, or one of those - releases the key, so a retry
  with the same key runs again instead of replaying a passing failure for a day;
- same key, same body, completed: the stored answer is replayed (`Idempotent-Replayed: true`),
  the upstream is not called;
- same key, different body: 422 `idempotency-key-reused`;
- same key while the first is still in flight: 409 `idempotency-key-in-flight`.
A refusal after the claim (validation, upstream down or timing out) releases the key, so the
caller may retry with it. A release that Redis does not take (it is down at that moment) is tried
again in the background until Redis answers or the claim would have expired anyway, so a retry
after a Redis restart runs instead of meeting 409 `idempotency-key-in-flight` for `lock_ttl`.
While Redis is unreachable the policy refuses with 503 `idempotency-unavailable` and `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time

from redis.exceptions import RedisError

from gateway.exchange import Exchange
from gateway.redisbatch import RedisBatcher, Script
from servicekit import BadRequest, Conflict, Unprocessable, UpstreamUnavailable
from servicekit.problems import DEPENDENCY_RETRY_AFTER

__all__ = ["IDEMPOTENCY_PREFIX", "RETRYABLE_STATUSES", "IdempotencyPolicy", "final"]

IDEMPOTENCY_PREFIX = "fig:gateway:idem:"
#: 4xx answers a repeat of the same request may not get: they depend on the credentials presented
#: (401, 403), on time (408, 425, 429) or on the state of something else (409, 423).
RETRYABLE_STATUSES = frozenset({401, 403, 408, 409, 423, 425, 429})


def final(status: int) -> bool:
    """Whether an answer is what the same request would always get, so it may be replayed for its key."""
    return status < 500 and status not in RETRYABLE_STATUSES


_KEY = re.compile(rb"^[\x21-\x7e]{1,255}$")

_CLAIM = Script(
    """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  redis.call('HSET', KEYS[1], 'state', 'inflight', 'fp', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'claimed'}
end
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return {'mismatch'} end
if state == 'inflight' then return {'inflight'} end
local stored = redis.call('HMGET', KEYS[1], 'status', 'headers', 'body')
return {'done', stored[1], stored[2], stored[3]}
"""
)
_COMPLETE = Script(
    """
if redis.call('HGET', KEYS[1], 'fp') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[2], 'headers', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""
)
_RELEASE = Script(
    """
if redis.call('HGET', KEYS[1], 'state') == 'inflight' and redis.call('HGET', KEYS[1], 'fp') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
)


def _unavailable() -> UpstreamUnavailable:
    return UpstreamUnavailable(
        "The idempotency store is unavailable; try again after the Retry-After seconds.",
        slug="idempotency-unavailable",
        headers={"Retry-After": str(DEPENDENCY_RETRY_AFTER)},
    )


class IdempotencyPolicy:
    """Claims, replays or refuses by Idempotency-Key for financially material POSTs."""

    def __init__(self, batcher: RedisBatcher, *, ttl: float, lock_ttl: float, max_body: int) -> None:
        self.batcher = batcher
        self.ttl_ms = int(ttl * 1000)
        self.lock_ttl_ms = int(lock_ttl * 1000)
        self.max_body = max_body
        #: Claims whose release failed: record -> (fingerprint, monotonic time to give up by).
        self._unreleased: dict[str, tuple[str, float]] = {}
        self._releasing: asyncio.Task[None] | None = None

    async def apply(self, exchange: Exchange) -> None:
        operation = exchange.operation
        if operation is None or not operation.material or exchange.method != "POST":
            return
        key = exchange.header(b"idempotency-key")
        if key is None:
            raise BadRequest(
                f"{operation.operation_id} is financially material: send an `Idempotency-Key` header "
                "(a unique value per intended operation, reused only to retry it).",
                slug="missing-idempotency-key",
                title="Idempotency-Key required",
            )
        if not _KEY.match(key):
            raise BadRequest(
                "The Idempotency-Key must be 1 to 255 visible ASCII characters.", slug="invalid-idempotency-key"
            )
        scope = hashlib.sha256(b"%s %s %s" % (exchange.method.encode(), exchange.path.encode(), key)).hexdigest()
        record = f"{IDEMPOTENCY_PREFIX}{{{exchange.client_id}}}:{scope}"
        fingerprint = hashlib.sha256(await exchange.read_body()).hexdigest()
        claimed_at = time.monotonic()
        try:
            result = await self.batcher.evalsha(_CLAIM, [record], [fingerprint, self.lock_ttl_ms])
        except (RedisError, OSError):
            raise _unavailable() from None
        outcome = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
        if outcome == "mismatch":
            raise Unprocessable(
                "This Idempotency-Key was used with a different request body; use a new key for a new request.",
                slug="idempotency-key-reused",
                title="Idempotency-Key reused",
            )
        if outcome == "inflight":
            raise Conflict(
                "A request with this Idempotency-Key is still being processed; retry after it completed.",
                slug="idempotency-key-in-flight",
                title="Request in flight",
                headers={"Retry-After": "1"},
            )
        if outcome == "done":
            status, headers, body = int(result[1]), json.loads(result[2]), result[3]
            replayed = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
            exchange.replay = (status, [*replayed, (b"idempotent-replayed", b"true")], body)
            return

        async def complete(status: int, response_headers: list[tuple[bytes, bytes]], body: bytes | None) -> None:
            if body is None or len(body) > self.max_body or not final(status):
                await release()
                return
            kept = [[n.decode("latin-1"), v.decode("latin-1")] for n, v in response_headers if n != b"content-length"]
            try:
                await self.batcher.evalsha(
                    _COMPLETE, [record], [fingerprint, status, json.dumps(kept), body, self.ttl_ms]
                )
            except (RedisError, OSError):
                # The answer still goes out; the key expires after lock_ttl and may then be retried.
                return

        async def release() -> None:
            try:
                await self.batcher.evalsha(_RELEASE, [record], [fingerprint])
            except (RedisError, OSError):
                self._release_later(record, fingerprint, claimed_at)

        exchange.on_response = complete
        exchange.on_refusal = release

    def _release_later(self, record: str, fingerprint: str, claimed_at: float) -> None:
        """Try the release again in the background, up to a second before the claim would expire
        (after that a new claim of the same key may exist, which must not be released)."""
        self._unreleased[record] = (fingerprint, claimed_at + self.lock_ttl_ms / 1000 - 1.0)
        if self._releasing is None:
            self._releasing = asyncio.get_running_loop().create_task(self._retry_releases())

    async def _retry_releases(self) -> None:
        delay = 0.25
        try:
            while self._unreleased:
                await asyncio.sleep(delay)
                for record, (fingerprint, until) in list(self._unreleased.items()):
                    if time.monotonic() < until:
                        try:
                            await self.batcher.evalsha(_RELEASE, [record], [fingerprint])
                        except (RedisError, OSError):
                            delay = min(delay * 2, 2.0)
                            break
                    self._unreleased.pop(record, None)
        finally:
            self._releasing = None

    async def drain(self) -> None:
        """Stop retrying releases (on shutdown); the claims left expire after `lock_ttl`."""
        task = self._releasing
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
