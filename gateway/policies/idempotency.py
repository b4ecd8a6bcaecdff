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
caller may retry with it.
"""

from __future__ import annotations

import hashlib
import json
import re

from redis.exceptions import RedisError

from gateway.exchange import Exchange
from gateway.redisbatch import RedisBatcher, Script
from servicekit import BadRequest, Conflict, Unprocessable, UpstreamUnavailable

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
        "The idempotency store is unavailable; try again shortly.", slug="idempotency-unavailable"
    )


class IdempotencyPolicy:
    """Claims, replays or refuses by Idempotency-Key for financially material POSTs."""

    def __init__(self, batcher: RedisBatcher, *, ttl: float, lock_ttl: float, max_body: int) -> None:
        self.batcher = batcher
        self.ttl_ms = int(ttl * 1000)
        self.lock_ttl_ms = int(lock_ttl * 1000)
        self.max_body = max_body

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
                return

        exchange.on_response = complete
        exchange.on_refusal = release
