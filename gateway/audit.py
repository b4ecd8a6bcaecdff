"""The audit stream: every refusal the gateway answers, one Redis Stream entry each."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from gateway.exchange import Exchange
from servicekit import ProblemError, RedisClient
from servicekit.metrics import redis_error

__all__ = ["AuditLog"]

log = logging.getLogger("gateway.audit")


class AuditLog:
    """Appends refusals to `stream` (XADD, trimmed to about `maxlen` entries).

    Fields: time, client, method, path, status, reason (problem slug), detail, correlation_id,
    operation. A Redis failure is logged and does not change the answer the caller gets.
    """

    def __init__(self, redis: RedisClient, stream: str, maxlen: int) -> None:
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen

    async def refusal(self, exchange: Exchange, error: ProblemError) -> None:
        operation = exchange.operation
        entry: dict[Any, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "client": exchange.client_id,
            "method": exchange.method,
            "path": exchange.path[:512],
            "status": error.status,
            "reason": error.problem_slug,
            "detail": error.detail[:300],
            "correlation_id": exchange.correlation_id,
            "operation": operation.operation_id if operation is not None else "-",
        }
        try:
            await self.redis.xadd(self.stream, entry, maxlen=self.maxlen, approximate=True)
        except (RedisError, OSError) as exc:
            redis_error("gateway-audit")
            log.warning("audit write failed", extra={"stream": self.stream, "error": str(exc)})
