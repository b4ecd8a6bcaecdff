"""The overview's error-rate trend: every one of the last 14 days, one entity's runs only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from experience.pages.overview import TREND_DAYS, daily_trend, error_rate_trend


def _row(day: str, workflow: str, entity: str | None, runs: int, failures: int) -> dict[str, object]:
    return {"bucket": day, "workflow": workflow, "legal_entity": entity, "runs": runs, "failures": failures}


def test_the_trend_shows_every_day_of_the_window_with_the_entitys_error_rate_over_all_workflows() -> None:
    summary = {
        "executive": {
            "error_rates_by_day": [
                _row("2026-12-03", "quote_to_cash", "DE01", 30, 3),
                _row("2026-12-03", "actuals_to_plan", "DE01", 10, 1),
                _row("2026-12-03", "quote_to_cash", "US01", 50, 50),  # another entity: not counted
                _row("2026-12-05", "quote_to_cash", "DE01", 8, 0),
                _row("2026-11-01", "quote_to_cash", "DE01", 9, 9),  # before the window
            ]
        }
    }
    chart = error_rate_trend(summary, "DE01", today=date(2026, 12, 5))
    bars = {bar.label: bar.value for bar in chart.bars}
    assert len(chart.bars) == TREND_DAYS
    assert chart.bars[0].label == "2026-11-22 (no runs)"  # oldest first, a day without runs shown as 0
    assert chart.bars[-1].label == "2026-12-05 (8 runs)"
    assert bars["2026-12-03 (40 runs)"] == str(Decimal("10.0"))  # (3 + 1) / (30 + 10)
    assert bars["2026-12-05 (8 runs)"] == "0.0"
    assert bars["2026-12-04 (no runs)"] == "0"
    assert chart.bars[-3].width > 0
    assert chart.bars[-1].width == 0


def test_a_summary_without_executive_metrics_gives_an_empty_trend_not_an_error() -> None:
    chart = error_rate_trend({}, "DE01", today=date(2026, 12, 5))
    assert [bar.value for bar in chart.bars] == ["0"] * TREND_DAYS


def test_a_daily_trend_shows_the_entitys_recorded_days_and_marks_the_days_without_a_record() -> None:
    summary = {
        "history": [
            {"day": "2026-12-04", "legal_entity": "DE01", "unposted_orders": 3},
            {"day": "2026-12-05", "legal_entity": "DE01", "unposted_orders": 1},
            {"day": "2026-12-05", "legal_entity": "US01", "unposted_orders": 9},  # another entity
        ]
    }
    chart = daily_trend(summary, "DE01", date(2026, 12, 5), "unposted_orders", "Unposted orders by day")
    assert chart.title == f"Unposted orders by day (last {TREND_DAYS} days)"
    assert len(chart.bars) == TREND_DAYS
    assert [(b.label, b.value) for b in chart.bars[-2:]] == [("2026-12-04", "3"), ("2026-12-05", "1")]
    assert chart.bars[0].label == "2026-11-22 (no record)"
