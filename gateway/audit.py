"""Gateway refusals as audit evidence: each one is an entry of the hash-chained audit log."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError

from gateway.exchange import Exchange
from servicekit import ProblemError
from servicekit.audit_chain import AuditRecord
from servicekit.audit_store import AuditAppendFailed, AuditStore
from servicekit.metrics import redis_error

__all__ = ["AuditLog"]

log = logging.getLogger("gateway.audit")


def _entity(exchange: Exchange, error: ProblemError) -> str | None:
    """The legal entity a refusal belongs to: the one refused, else the caller's only one, else none (global)."""
    refused = (error.extensions or {}).get("legal_entities")
    if isinstance(refused, list) and len(refused) == 1 and isinstance(refused[0], str):
        return refused[0]
    claims = exchange.claims
    if claims is not None and len(claims.legal_entities) == 1:
        return next(iter(claims.legal_entities))
    return None


class AuditLog:
    """Appends every refusal to the audit log (`servicekit.audit_store`), action `gateway.refused`.

    Who: the token's subject and client (`anonymous` and `-` without a valid token); what: the
    operation (resource: method and path); outcome `refused`; detail: status, reason (problem
    slug), detail, method, path, operation. A Redis failure is logged and does not change the
    answer the caller gets.
    """

    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def refusal(self, exchange: Exchange, error: ProblemError) -> None:
        operation = exchange.operation
        claims = exchange.claims
        path = exchange.path[:512]
        record = AuditRecord(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            actor=claims.subject if claims is not None else "anonymous",
            client=exchange.client_id,
            action="gateway.refused",
            resource=f"{exchange.method} {path}",
            legal_entity=_entity(exchange, error),
            correlation_id=exchange.correlation_id,
            outcome="refused",
            detail={
                "status": str(error.status),
                "reason": error.problem_slug,
                "detail": error.detail[:300],
                "method": exchange.method,
                "path": path,
                "operation": operation.operation_id if operation is not None else "-",
            },
        )
        try:
            await self.store.append(record)
        except (RedisError, OSError, AuditAppendFailed) as exc:
            redis_error("gateway-audit")
            log.warning("audit write failed", extra={"error": str(exc), "correlation_id": exchange.correlation_id})
