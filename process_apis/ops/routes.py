"""`GET /v1/ops/summary`: operations metrics from stored state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.params import FromQuery

from process_apis.ops.summary import OpsSummary, summarise
from servicekit import require_scopes

__all__ = ["ops_router"]

Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]


@get(
    "/ops/summary",
    operation_id="getOpsSummary",
    summary="Operations metrics of the finance workflows",
    guards=[require_scopes("ops:read")],
)
async def ops_summary(request: Request[Any, Any, Any], legal_entity: FromQuery[Entity | None] = None) -> OpsSummary:
    """Unposted orders, automation share, exception aging and SLA breaches, policy violations, lags."""
    return await summarise(request.app.state.redis, datetime.now(UTC), legal_entity)


ops_router = Router(path="/v1", route_handlers=[ops_summary], tags=["ops"])
