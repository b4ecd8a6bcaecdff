"""Daily history of the ops figures per legal entity, so trends over days can be shown.

The ops summary is computed from what Redis holds now; nothing in it remembers yesterday. The
scheduler's leader therefore records each entity's figures of the day at most every `interval`
seconds into one hash per entity (`fig:ops:{history-<entity>}:days`, field = UTC day): the last
snapshot of a day stands for that day. The ops summary returns the days of its window
(`history`), only for the caller's entities. Days before the first snapshot are simply absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from process_apis.ops.summary import OpsSummary

__all__ = ["DailyFigures", "figures_of", "history", "history_key", "record_day"]


class DailyFigures(msgspec.Struct, kw_only=True, frozen=True):
    """One legal entity's figures as last recorded on one UTC day."""

    day: date
    legal_entity: str
    recorded_at: datetime
    unposted_orders: int
    orders_awaiting_booking: int
    open_exceptions: int
    exceptions_over_24h: int
    sla_breaches: int
    duplicate_posting_rate: Decimal | None
    forecast_refresh_lag_seconds: float | None
    reconciliation_breaks: int


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DailyFigures)


def history_key(legal_entity: str) -> str:
    """The entity's history hash (its own hash tag: one slot per entity)."""
    return f"fig:ops:{{history-{legal_entity}}}:days"


def figures_of(summary: OpsSummary, legal_entity: str, now: datetime) -> DailyFigures:
    """The figures of `summary` (computed for `legal_entity` alone) to keep for today."""
    return DailyFigures(
        day=now.date(),
        legal_entity=legal_entity,
        recorded_at=now,
        unposted_orders=summary.unposted_orders,
        orders_awaiting_booking=summary.orders_awaiting_booking,
        open_exceptions=summary.open_exceptions,
        exceptions_over_24h=summary.exception_aging.over_24h,
        sla_breaches=summary.sla_breaches,
        duplicate_posting_rate=summary.duplicate_posting_rate,
        forecast_refresh_lag_seconds=summary.forecast_refresh_lag_seconds,
        reconciliation_breaks=summary.reconciliation_exceptions_by_entity.get(legal_entity, 0),
    )


async def record_day(redis: Any, figures: DailyFigures) -> None:
    """Keep `figures` as its entity's figures of its day (replacing an earlier snapshot of that day)."""
    await redis.hset(history_key(figures.legal_entity), figures.day.isoformat(), _encoder.encode(figures))


async def history(
    redis: Any, entities: Iterable[str], from_day: date | None, to_day: date | None
) -> list[DailyFigures]:
    """The recorded days of `entities` within `from_day`..`to_day` (both included; None: unbounded),
    oldest first, entity by entity."""
    days: list[DailyFigures] = []
    for entity in sorted(entities):
        for raw_day, raw in (await redis.hgetall(history_key(entity))).items():
            day = date.fromisoformat(raw_day.decode() if isinstance(raw_day, bytes) else raw_day)
            if (from_day is None or day >= from_day) and (to_day is None or day <= to_day):
                days.append(_decoder.decode(raw))
    return sorted(days, key=lambda d: (d.day, d.legal_entity))
