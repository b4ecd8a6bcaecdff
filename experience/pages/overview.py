"""Overview: the operations figures of each legal entity the person may see."""

from __future__ import annotations

import asyncio
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

__all__ = ["FIGURES", "overview_page"]

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

_AGING = (("under_1h", "under 1 h"), ("h1_to_4h", "1 to 4 h"), ("h4_to_24h", "4 to 24 h"), ("over_24h", "over 24 h"))


def _number(value: Any) -> int | Decimal:
    return value if isinstance(value, int) else Decimal(str(value or 0))


def _charts(summary: dict[str, Any], entity: str) -> list[BarChart]:
    aging = summary.get("exception_aging") or {}
    reasons = summary.get("exceptions_by_reason") or {}
    breaks = (summary.get("reconciliation_exceptions_by_entity") or {}).get(entity, 0)
    violations = sum(int(v) for v in (summary.get("policy_violations_by_flow") or {}).values())
    return [
        bar_chart("Open exceptions by age", [(label, _number(aging.get(key, 0))) for key, label in _AGING]),
        bar_chart("Open exceptions by reason", sorted(((k, _number(v)) for k, v in reasons.items()))),
        bar_chart("Controls", [("Reconciliation breaks", _number(breaks)), ("Policy violations", violations)]),
    ]


@get("/", include_in_schema=False)
async def overview_page(state: State, who: NamedDependency[SignedIn], entity: FromQuery[str | None] = None) -> Template:
    """One panel per legal entity (or only `entity`): figures as the API computes them, and charts."""
    api: ApiClient = state.api
    entities = [e for e in who.session.legal_entities if entity in (None, "", e)]
    answers: list[ApiAnswer] = list(
        await asyncio.gather(*(api.get("/v1/ops/summary", who.token, {"legal_entity": e}) for e in entities))
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
