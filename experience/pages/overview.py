"""Overview: the operations figures of each legal entity the person may see."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from experience.api import ApiAnswer, ApiClient
from experience.auth import SignedIn
from experience.charts import BarChart, bar_chart
from experience.pages.render import page

__all__ = ["FIGURES", "TREND_DAYS", "daily_trend", "error_rate_trend", "overview_page"]

#: (field of the ops summary, label) shown as figures, in order.
FIGURES = (
    ("unposted_orders", "Unposted orders"),
    ("orders_awaiting_booking", "Orders awaiting booking"),
    ("open_exceptions", "Open exceptions"),
    ("sla_breaches", "SLA breaches"),
    ("duplicate_posting_rate", "Duplicate-posting rate"),
    ("forecast_refresh_lag_seconds", "Forecast refresh lag (s)"),
    ("runs_completed", "Runs completed"),
    ("orders_created", "Orders created"),
)

#: How many UTC days (today included) the trend chart covers.
TREND_DAYS = 14

_AGING = (("under_1h", "under 1 h"), ("h1_to_4h", "1 to 4 h"), ("h4_to_24h", "4 to 24 h"), ("over_24h", "over 24 h"))


def _number(value: Any) -> int | Decimal:
    return value if isinstance(value, int) else Decimal(str(value or 0))


def error_rate_trend(summary: dict[str, Any], entity: str, today: date) -> BarChart:
    """The entity's error rate per UTC day over the last `TREND_DAYS` days, every day shown (a day
    without runs as 0 with "no runs"), from the API's `executive.error_rates_by_day` (all workflows)."""
    runs: dict[str, int] = {}
    failures: dict[str, int] = {}
    for row in (summary.get("executive") or {}).get("error_rates_by_day") or []:
        if row.get("legal_entity") == entity:
            day = str(row["bucket"])
            runs[day] = runs.get(day, 0) + int(row["runs"])
            failures[day] = failures.get(day, 0) + int(row["failures"])
    items: list[tuple[str, int | Decimal]] = []
    for day in _days(today):
        started = runs.get(day, 0)
        rate = (Decimal(100 * failures.get(day, 0)) / started).quantize(Decimal("0.1")) if started else Decimal(0)
        runs_text = "no runs" if not started else "1 run" if started == 1 else f"{started} runs"
        items.append((f"{day} ({runs_text})", rate))
    return bar_chart(f"Error rate by day, % of runs started (last {TREND_DAYS} days)", items)


#: (field of a day in the summary's `history`, chart title): the figures shown as trends over days.
TRENDS = (
    ("unposted_orders", "Unposted orders by day"),
    ("open_exceptions", "Open exceptions by day"),
    ("reconciliation_breaks", "Reconciliation breaks by day"),
)


def _days(today: date) -> list[str]:
    return [(today - timedelta(days=back)).isoformat() for back in range(TREND_DAYS - 1, -1, -1)]


def daily_trend(summary: dict[str, Any], entity: str, today: date, field: str, title: str) -> BarChart:
    """The entity's `field` per UTC day over the last `TREND_DAYS` days, from the summary's
    `history` (each day's last record); a day without a record shows 0 with "no record"."""
    recorded = {
        str(day["day"]): day.get(field) or 0
        for day in summary.get("history") or []
        if day.get("legal_entity") == entity
    }
    items: list[tuple[str, int | Decimal]] = [
        (day, _number(recorded[day])) if day in recorded else (f"{day} (no record)", 0) for day in _days(today)
    ]
    return bar_chart(f"{title} (last {TREND_DAYS} days)", items)


def _charts(summary: dict[str, Any], entity: str) -> list[BarChart]:
    aging = summary.get("exception_aging") or {}
    reasons = summary.get("exceptions_by_reason") or {}
    breaks = (summary.get("reconciliation_exceptions_by_entity") or {}).get(entity, 0)
    violations = sum(int(v) for v in (summary.get("policy_violations_by_flow") or {}).values())
    return [
        bar_chart("Open exceptions by age", [(label, _number(aging.get(key, 0))) for key, label in _AGING]),
        bar_chart("Open exceptions by reason", sorted(((k, _number(v)) for k, v in reasons.items()))),
        bar_chart("Controls", [("Reconciliation breaks", _number(breaks)), ("Policy violations", violations)]),
        error_rate_trend(summary, entity, datetime.now(UTC).date()),
        *(daily_trend(summary, entity, datetime.now(UTC).date(), field, title) for field, title in TRENDS),
    ]


@get("/", include_in_schema=False)
async def overview_page(state: State, who: NamedDependency[SignedIn], entity: FromQuery[str | None] = None) -> Template:
    """One panel per legal entity (or only `entity`): figures as the API computes them, and charts."""
    api: ApiClient = state.api
    entities = [e for e in who.session.legal_entities if entity in (None, "", e)]
    since = (datetime.now(UTC).date() - timedelta(days=TREND_DAYS - 1)).isoformat()
    answers: list[ApiAnswer] = list(
        await asyncio.gather(
            *(api.get("/v1/ops/summary", who.token, {"legal_entity": e, "from": since}) for e in entities)
        )
    )
    panels = [
        {
            "entity": e,
            "answer": answer,
            "figures": [(key, label, answer.body.get(key)) for key, label in FIGURES] if answer.ok else [],
            "charts": _charts(answer.body, e) if answer.ok else [],
        }
        for e, answer in zip(entities, answers, strict=True)
    ]
    return page("overview.html", who, active="/", title="Overview", panels=panels, entity=entity or "")
