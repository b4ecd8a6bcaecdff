"""The executive metrics of the ops summary, over a window of UTC days, from the day-bucketed counters.

Every figure is a sum of counters the engine commits with the change it counts
(`process_apis/workflows/metrics.py` names them and says when each is counted); nothing is
sampled or estimated, and a ratio or mean without data is null. The formulas are in the field
descriptions below, which the published OpenAPI document carries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Annotated

import msgspec

from process_apis.versions import SeenVersion
from process_apis.workflows.metrics import AMOUNT_SCALE, DAY_PREFIX, LAG_BUCKETS

__all__ = ["CloseCycle", "ErrorRate", "ExecutiveMetrics", "LagDistribution", "executive_metrics"]

_SECONDS = Decimal("0.001")


def _doc(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class LagDistribution(msgspec.Struct, kw_only=True, frozen=True):
    """Quote-to-cash runs by the time from the ERP booking (seen) to the forecast commit in planning."""

    under_1m: int
    m1_to_5m: int
    m5_to_1h: int
    h1_to_24h: int
    over_24h: int


class CloseCycle(msgspec.Struct, kw_only=True, frozen=True):
    """The close of a period: period end -> actuals loaded into plan -> reconciliation balanced."""

    actuals_loaded_seconds: Annotated[
        float | None,
        _doc(
            "Mean over actuals-to-plan runs completed in the window of (completed at - end of its period); "
            "null without any."
        ),
    ]
    balanced_seconds: Annotated[
        float | None,
        _doc(
            "Mean over reconciliations that balanced in the window of (balanced at - end of its period): the "
            "whole close cycle; null without any."
        ),
    ]
    actuals_loads: int
    balanced_reconciliations: int


class ErrorRate(msgspec.Struct, kw_only=True, frozen=True):
    """Runs started and gate failures of one workflow and legal entity in one day or ISO week."""

    bucket: Annotated[str, _doc("The UTC day `YYYY-MM-DD`, or the ISO week `YYYY-Www`.")]
    workflow: str
    legal_entity: Annotated[str | None, _doc("null: runs of no known legal entity (e.g. an unmapped region)")]
    runs: int
    failures: int
    error_rate: Annotated[Decimal | None, _doc("failures / runs (4 decimals); null when no run started.")]


class ExecutiveMetrics(msgspec.Struct, kw_only=True, frozen=True):
    """Executive metrics over the window `from`..`to` (UTC days, both included) of the selected entities."""

    from_day: Annotated[date | None, _doc("First UTC day of the window; null: since the first recorded day.")]
    to_day: Annotated[date | None, _doc("Last UTC day of the window; null: up to today.")]
    automated_postings: Annotated[
        int,
        _doc(
            "Quote-to-cash orders first posted to the ERP whose run was started by the CRM approval event and had "
            "no manual action (no gate entered by a person or client: start, retry, replay, override) before."
        ),
    ]
    manual_postings: Annotated[int, _doc("Orders first posted to the ERP after a manual action at any step.")]
    share_of_automated_postings: Annotated[
        Decimal | None, _doc("automated_postings / (automated_postings + manual_postings); null without postings.")
    ]
    manual_interventions_by_workflow: Annotated[
        dict[str, int],
        _doc(
            "People's actions per workflow: retries and replays by a client or person, exception resolve, assign "
            "and dead-letter, and approved proposals applied to an exception."
        ),
    ]
    reconciliation_cycle_time_seconds: Annotated[
        float | None,
        _doc(
            "Mean over reconciliations balanced in the window (period end -> balanced) and reconciliation breaks "
            "closed in it (break opened -> closed); null without either."
        ),
    ]
    close_cycle: CloseCycle
    timing_variance: Annotated[
        dict[str, Decimal],
        _doc(
            "Forecast-to-actual variance caused by integration timing, per currency: the amounts of bookings "
            "committed to planning for their close-date month while the ERP booked them in another month. "
            "Empty unless `timing_variance_reported` (the committed-bookings version is published)."
        ),
    ]
    timing_variance_runs: Annotated[
        int, _doc("How many bookings make up `timing_variance`; 0 unless `timing_variance_reported`.")
    ]
    booking_to_forecast_lag: LagDistribution
    error_rates_by_day: Annotated[list[ErrorRate], _doc("Per UTC day, workflow and legal entity, oldest first.")]
    error_rates_by_week: Annotated[list[ErrorRate], _doc("Per ISO week, workflow and legal entity, oldest first.")]
    timing_variance_version: Annotated[
        SeenVersion | None,
        _doc(
            "The planning version the committed bookings behind `timing_variance` are in (the model's one "
            "committed-bookings version), as the process API last saw it (`GET /v1/planning-versions`); null "
            "when it has not seen exactly one."
        ),
    ] = None
    timing_variance_reported: Annotated[
        bool,
        _doc(
            "true only while `timing_variance_version` is published: a draft version's figures are never "
            "reported, so otherwise `timing_variance` is empty and `timing_variance_runs` 0."
        ),
    ] = False


def _ratio(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001")) if whole else None


def _mean_seconds(total_ms: int, count: int) -> float | None:
    return float((Decimal(total_ms) / count / 1000).quantize(_SECONDS)) if count else None


def _week(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def executive_metrics(
    counters: Mapping[str, int],
    *,
    admits: Callable[[str | None], bool],
    from_day: date | None = None,
    to_day: date | None = None,
    committed: SeenVersion | None = None,
) -> ExecutiveMetrics:
    """The metrics from the counters (`read_counters`) of the entities `admits` accepts (None: no entity);
    the planning figures only if `committed` (the committed-bookings version) is published."""
    low, high = (from_day.isoformat() if from_day else ""), (to_day.isoformat() if to_day else "9999-12-31")
    sums: dict[str, int] = defaultdict(int)
    runs: dict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for name, value in counters.items():
        if not name.startswith(DAY_PREFIX):
            continue
        day, entity_field, metric = name[len(DAY_PREFIX) :].split(":", 2)
        entity = None if entity_field == "-" else entity_field
        if not low <= day <= high or not admits(entity):
            continue
        kind, _, workflow = metric.partition(":")
        if kind in ("runs", "failures"):
            runs[(day, workflow, entity)][kind == "failures"] += value
        else:
            sums[metric] += value
    auto, manual = sums["posted:auto"], sums["posted:manual"]
    balanced, breaks = sums["recon_balanced"], sums["recon_break_closed"]
    reported = committed is not None and committed.published
    return ExecutiveMetrics(
        from_day=from_day,
        to_day=to_day,
        automated_postings=auto,
        manual_postings=manual,
        share_of_automated_postings=_ratio(auto, auto + manual),
        manual_interventions_by_workflow={
            metric.removeprefix("manual:"): n for metric, n in sorted(sums.items()) if metric.startswith("manual:")
        },
        reconciliation_cycle_time_seconds=_mean_seconds(
            sums["recon_balanced_ms"] + sums["recon_break_ms"], balanced + breaks
        ),
        close_cycle=CloseCycle(
            actuals_loaded_seconds=_mean_seconds(sums["actuals_ms"], sums["actuals_loaded"]),
            balanced_seconds=_mean_seconds(sums["recon_balanced_ms"], balanced),
            actuals_loads=sums["actuals_loaded"],
            balanced_reconciliations=balanced,
        ),
        timing_variance={
            metric.removeprefix("timing:"): Decimal(n) / AMOUNT_SCALE
            for metric, n in sorted(sums.items())
            if reported and metric.startswith("timing:")
        },
        timing_variance_runs=sums["timing_runs"] if reported else 0,
        booking_to_forecast_lag=LagDistribution(**{name: sums[f"lag:{name}"] for _, name in LAG_BUCKETS}),
        error_rates_by_day=_rates(runs, lambda day: day),
        error_rates_by_week=_rates(runs, _week),
        timing_variance_version=committed,
        timing_variance_reported=reported,
    )


def _rates(runs: Mapping[tuple[str, str, str | None], list[int]], bucket_of: Callable[[str], str]) -> list[ErrorRate]:
    grouped: dict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for (day, workflow, entity), (started, failed) in runs.items():
        total = grouped[(bucket_of(day), workflow, entity)]
        total[0] += started
        total[1] += failed
    ordered = sorted(grouped.items(), key=lambda item: (item[0][0], item[0][1], item[0][2] or ""))
    return [
        ErrorRate(
            bucket=bucket,
            workflow=workflow,
            legal_entity=entity,
            runs=started,
            failures=failed,
            error_rate=_ratio(failed, started),
        )
        for (bucket, workflow, entity), (started, failed) in ordered
    ]
