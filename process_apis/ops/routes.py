"""`GET /v1/ops/summary`: operations metrics from stored state."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from contracts.model import MONTH_PATTERN
from process_apis.entities import EntityScope, entity_scope
from process_apis.ops.history import history
from process_apis.ops.summary import OpsSummary, summarise
from servicekit import BadRequest, require_scopes
from servicekit.openapi import problem_spec

__all__ = ["ops_router"]

Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]
_MONTH = re.compile(MONTH_PATTERN)


@get(
    "/ops/summary",
    operation_id="getOpsSummary",
    summary="Operations metrics of the finance workflows",
    guards=[require_scopes("ops:read")],
    responses={
        400: problem_spec("A malformed `legal_entity`, `period` (invalid-query), `from` or `to` (invalid-request)"),
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
        str | None,
        QueryParameter(
            pattern=MONTH_PATTERN,
            description="Executive metrics of one calendar month `YYYY-MM` (UTC days), within from/to if given",
        ),
    ] = None,
    from_day: Annotated[
        date | None, QueryParameter(name="from", description="Executive metrics from this UTC day on")
    ] = None,
    to_day: Annotated[
        date | None, QueryParameter(name="to", description="Executive metrics up to this UTC day, included")
    ] = None,
) -> OpsSummary:
    """Unposted orders, automation share, exception aging and SLA breaches, policy violations, lags,
    and the executive metrics (`executive`) over a window of days.

    Summed over the caller's legal entities, or one of them with `legal_entity` (another is 403).
    Policy violations, counted per flow and not per entity, are shown to callers cleared for every entity.
    The other figures are as of now; `executive` covers the days of `period` within `from`..`to`
    (each optional; none: every recorded day; `from` after `to`: no day).
    """
    entities.require(legal_entity)
    start, end = window(period, from_day, to_day)
    redis = request.app.state.redis
    summary = await summarise(
        redis,
        datetime.now(UTC),
        legal_entity,
        entities=entities.allowed,
        everything=await entities.everything(),
        from_day=start,
        to_day=end,
    )
    if period is None and from_day is None and to_day is None:
        return summary
    if legal_entity is not None:
        shown: frozenset[str] = frozenset({legal_entity})
    else:
        mapping, _ = await entities.controls.current()
        known = {e.legal_entity for e in mapping.regions.values()}
        shown = frozenset(known if entities.allowed is None else known & entities.allowed)
    return msgspec.structs.replace(summary, history=await history(redis, shown, start, end))


def window(period: str | None, from_day: date | None, to_day: date | None) -> tuple[date | None, date | None]:
    """The first and last UTC day asked for: `period`'s days within `from`..`to` (`from` after `to`: no day).

    400 `invalid-query` for a `period` that is not `YYYY-MM`.
    """
    if period is None:
        return from_day, to_day
    # Litestar 2.x does not apply the published pattern to query parameters: checked here.
    if not _MONTH.fullmatch(period):
        raise BadRequest(f"period {period!r} is not YYYY-MM.", slug="invalid-query", title="Invalid query")
    first = date.fromisoformat(f"{period}-01")
    last = date(first.year, 12, 31) if first.month == 12 else date(first.year, first.month + 1, 1) - timedelta(days=1)
    return max(first, from_day or first), min(last, to_day or last)


ops_router = Router(
    path="/v1", route_handlers=[ops_summary], dependencies={"entities": Provide(entity_scope)}, tags=["ops"]
)
