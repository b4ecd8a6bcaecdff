"""`GET /v1/ops/summary`: operations metrics from stored state."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from process_apis.entities import EntityScope, entity_scope
from process_apis.ops.summary import OpsSummary, summarise
from servicekit import BadRequest, require_scopes
from servicekit.openapi import problem_spec

__all__ = ["ops_router"]

Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
Month = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
Day = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", examples=["2026-11-30"])]


@get(
    "/ops/summary",
    operation_id="getOpsSummary",
    summary="Operations metrics of the finance workflows",
    guards=[require_scopes("ops:read")],
    responses={
        400: problem_spec(
            "A malformed `legal_entity`, `period`, `from` or `to`, `period` with `from`/`to`, or `from` after `to` "
            "(invalid-query)"
        ),
        403: problem_spec(
            "The token lacks ops:read, or `legal_entity` names an entity the caller is not cleared for "
            "(entity-not-allowed)"
        ),
    },
)
async def ops_summary(
    *,
    request: Request[Any, Any, Any],
    entities: NamedDependency[EntityScope],
    legal_entity: FromQuery[Entity | None] = None,
    period: Annotated[
        Month | None,
        QueryParameter(description="Executive metrics of one calendar month `YYYY-MM` (UTC days); not with from/to"),
    ] = None,
    from_day: Annotated[
        Day | None, QueryParameter(name="from", description="Executive metrics from this UTC day `YYYY-MM-DD` on")
    ] = None,
    to_day: Annotated[
        Day | None,
        QueryParameter(name="to", description="Executive metrics up to this UTC day `YYYY-MM-DD`, included"),
    ] = None,
) -> OpsSummary:
    """Unposted orders, automation share, exception aging and SLA breaches, policy violations, lags,
    and the executive metrics (`executive`) over a window of days.

    Summed over the caller's legal entities, or one of them with `legal_entity` (another is 403).
    Policy violations, counted per flow and not per entity, are shown to callers cleared for every entity.
    The other figures are as of now; `executive` covers `period` or `from`..`to` (default: every recorded day).
    """
    entities.require(legal_entity)
    start, end = window(period, from_day, to_day)
    return await summarise(
        request.app.state.redis,
        datetime.now(UTC),
        legal_entity,
        entities=entities.allowed,
        everything=await entities.everything(),
        from_day=start,
        to_day=end,
    )


def window(period: str | None, from_day: str | None, to_day: str | None) -> tuple[date | None, date | None]:
    """The first and last UTC day asked for; 400 `invalid-query` for a malformed or empty window."""
    # Litestar 2.x does not apply msgspec constraints to query parameters: checked here.
    try:
        if period is not None:
            if from_day is not None or to_day is not None:
                raise ValueError("give either `period` or `from`/`to`, not both")
            if not _MONTH.fullmatch(period):
                raise ValueError(f"period {period!r} is not YYYY-MM")
            first = date.fromisoformat(f"{period}-01")
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            return first, following - timedelta(days=1)
        start = date.fromisoformat(from_day) if from_day is not None else None
        end = date.fromisoformat(to_day) if to_day is not None else None
    except ValueError as exc:
        raise BadRequest(f"Invalid window: {exc}.", slug="invalid-query", title="Invalid query") from None
    if start is not None and end is not None and start > end:
        raise BadRequest(f"`from` {start} is after `to` {end}.", slug="invalid-query", title="Invalid query")
    return start, end


ops_router = Router(
    path="/v1", route_handlers=[ops_summary], dependencies={"entities": Provide(entity_scope)}, tags=["ops"]
)
