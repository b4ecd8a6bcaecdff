"""`GET /v1/ops/summary`: operations metrics from stored state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery

from process_apis.entities import EntityScope, entity_scope
from process_apis.ops.summary import OpsSummary, summarise
from servicekit import require_scopes
from servicekit.openapi import problem_spec

__all__ = ["ops_router"]

Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]


@get(
    "/ops/summary",
    operation_id="getOpsSummary",
    summary="Operations metrics of the finance workflows",
    guards=[require_scopes("ops:read")],
    responses={
        403: problem_spec(
            "The token lacks ops:read, or `legal_entity` names an entity the caller is not cleared for "
            "(entity-not-allowed)"
        )
    },
)
async def ops_summary(
    request: Request[Any, Any, Any],
    entities: NamedDependency[EntityScope],
    legal_entity: FromQuery[Entity | None] = None,
) -> OpsSummary:
    """Unposted orders, automation share, exception aging and SLA breaches, policy violations, lags.

    Summed over the caller's legal entities, or one of them with `legal_entity` (another is 403).
    Policy violations, counted per flow and not per entity, are shown to callers cleared for every entity.
    """
    entities.require(legal_entity)
    return await summarise(
        request.app.state.redis,
        datetime.now(UTC),
        legal_entity,
        entities=entities.allowed,
        everything=await entities.everything(),
    )


ops_router = Router(
    path="/v1", route_handlers=[ops_summary], dependencies={"entities": Provide(entity_scope)}, tags=["ops"]
)
