"""`GET /v1/audit`: the audit log of the caller's legal entities, filtered and paged."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.params import FromQuery, QueryParameter

from process_apis.audit.query import AuditFilter, page_of
from servicekit import BadRequest, Forbidden, claims_of, require_scopes
from servicekit.audit_chain import GLOBAL_CHAIN, AuditEntry
from servicekit.audit_store import AuditStore
from servicekit.openapi import problem_spec

__all__ = ["AuditPage", "audit_router"]

_ENTITY = re.compile(r"^[A-Z]{2}[0-9]{2}$")
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
Entity = Annotated[str, msgspec.Meta(pattern=_ENTITY.pattern, examples=["DE01"])]
Period = Annotated[str, msgspec.Meta(pattern=_PERIOD.pattern, examples=["2026-11"])]
MAX_LIMIT = 500
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AuditPage(msgspec.Struct, kw_only=True, frozen=True):
    """Audit entries, oldest first, each with its chain, `seq`, `prev` and `hash` (verifiable as a range).

    `next_cursor` is null at the end; a page may hold fewer than `limit` entries before the end.
    """

    items: list[AuditEntry]
    next_cursor: str | None = None


async def _entities(request: Request[Any, Any, Any], store: AuditStore, wanted: str | None) -> list[str]:
    """The chains the caller may read: its token's legal entities (all entity chains without auth)."""
    claims = claims_of(request.scope)
    if claims is not None:
        allowed = set(claims.legal_entities)
    elif request.app.state.get("auth_required", True):
        allowed = set()
    else:
        allowed = {c for c in await store.chains() if c != GLOBAL_CHAIN}
    if wanted is None:
        return sorted(allowed)
    if wanted not in allowed:
        raise Forbidden(
            f"The token is not cleared for legal entity {wanted}; ask for one of its legal_entities.",
            slug="entity-not-allowed",
            title="Legal entity not allowed",
            extensions={"legal_entities": [wanted]},
        )
    return [wanted]


@get(
    "/audit",
    operation_id="listAuditEntries",
    summary="Read the audit log of the caller's legal entities",
    guards=[require_scopes("audit:read")],
    responses={
        400: problem_spec(
            "A filter or `limit` outside the contract (invalid-request), or a `cursor` this API did not issue "
            "(invalid-cursor)"
        ),
        403: problem_spec("The token lacks audit:read or the legal entity is not its (entity-not-allowed)"),
    },
)
async def list_audit(
    *,
    request: Request[Any, Any, Any],
    period: Annotated[str | None, QueryParameter(pattern=_PERIOD.pattern, description="YYYY-MM (UTC)")] = None,
    legal_entity: Annotated[str | None, QueryParameter(pattern=_ENTITY.pattern, description="e.g. DE01")] = None,
    actor: FromQuery[Text | None] = None,
    action: FromQuery[Text | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size, 1..500")] = 100,
    cursor: Annotated[
        str | None, QueryParameter(max_length=100, description="`next_cursor` of the previous page")
    ] = None,
) -> AuditPage:
    """Every recorded decision (refusals, exception actions, replays, manual runs, control changes) of the
    caller's legal entities matching every given filter: `period` (YYYY-MM, UTC), `legal_entity`,
    `actor` (person or client), `action` (e.g. `exception.resolved`).

    Decisions of no single entity are in the global chain, read with `fig audit` by operators.
    """
    # Litestar 2.x does not apply msgspec constraints to query parameters: checked here.
    for name, value, pattern in (("period", period, _PERIOD), ("legal_entity", legal_entity, _ENTITY)):
        if value is not None and not pattern.fullmatch(value):
            raise BadRequest(
                f"{name} {value!r} does not match {pattern.pattern}.", slug="invalid-query", title="Invalid query"
            )
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(
            f"limit must be between 1 and {MAX_LIMIT}, not {limit}.", slug="invalid-limit", title="Invalid limit"
        )
    store: AuditStore = request.app.state.audit
    chains = await _entities(request, store, legal_entity)
    where = AuditFilter(period=period, actor=actor, action=action)
    try:
        items, next_cursor = await page_of(store, chains, where, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise BadRequest(str(exc), slug="invalid-cursor", title="Invalid cursor") from None
    return AuditPage(items=items, next_cursor=next_cursor)


audit_router = Router(path="/v1", route_handlers=[list_audit], tags=["audit"])
