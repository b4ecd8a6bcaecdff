"""One call per decision: who (token subject and client), what, which resource and entity, outcome."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Request
from redis.exceptions import RedisError

from servicekit import claims_of, current_correlation_id
from servicekit.audit_chain import AuditRecord
from servicekit.audit_store import AuditAppendFailed, AuditStore

__all__ = ["record", "record_observed"]

log = logging.getLogger("process_apis.audit")


async def record(
    request: Request[Any, Any, Any],
    action: str,
    *,
    resource: str,
    legal_entity: str | None,
    outcome: str = "done",
    detail: dict[str, str] | None = None,
) -> None:
    """Chain the decision `action` on `resource` into `legal_entity`'s audit chain (global when None).

    Called once the change is made, so the log holds what happened; the actor is the token's
    subject (a person for person tokens), the client its client id. The change is not undone
    when the log cannot be written (Redis down): that is logged as an error for operators.
    """
    store: AuditStore = request.app.state.audit
    claims = claims_of(request.scope)
    entry = AuditRecord(
        time=datetime.now(UTC).isoformat(timespec="milliseconds"),
        actor=claims.subject if claims is not None else "anonymous",
        client=claims.client_id if claims is not None else "-",
        action=action,
        resource=resource,
        legal_entity=legal_entity,
        correlation_id=current_correlation_id() or "-",
        outcome=outcome,
        detail={k: v for k, v in (detail or {}).items() if v},
    )
    await _append(store, entry)


async def record_observed(
    store: AuditStore,
    action: str,
    *,
    observer: str,
    resource: str,
    legal_entity: str | None,
    at: datetime,
    detail: dict[str, str] | None = None,
) -> None:
    """Chain a change the process API saw happen in another system (nobody asked it for anything).

    `observer` names the part of the process API that saw it (e.g. `scheduler:planning-versions`);
    the client is `-`. Written once by whoever recorded the change first, like `record`.
    """
    entry = AuditRecord(
        time=at.isoformat(timespec="milliseconds"),
        actor=observer,
        client="-",
        action=action,
        resource=resource,
        legal_entity=legal_entity,
        correlation_id=current_correlation_id() or "-",
        outcome="observed",
        detail={k: v for k, v in (detail or {}).items() if v},
    )
    await _append(store, entry)


async def _append(store: AuditStore, entry: AuditRecord) -> None:
    action, resource = entry.action, entry.resource
    try:
        await store.append(entry)
    except (RedisError, OSError, AuditAppendFailed) as exc:
        log.error("audit write failed", extra={"action": action, "resource": resource, "error": str(exc)})
