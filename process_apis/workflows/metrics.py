"""Day-bucketed ops counters behind the executive metrics of `GET /v1/ops/summary`.

Each is an ordinary ops counter (an idempotent `hincrby` effect in the commit that makes the
change, so no extra Redis round trip) named `day:<YYYY-MM-DD>:<legal entity or ->:<metric>`, in
the one counters hash (`fig:ops:{counters}:totals`, one cluster slot). The day is the UTC day the
change was committed. Metrics:

- `runs:<workflow>` a run started; `failures:<workflow>` a run failed a gate (parked on an exception);
- `manual:<workflow>` a person's action on a run or exception (retry, replay, resolve, assign,
  dead-letter, an approved proposal);
- `posted:auto` / `posted:manual` a quote-to-cash order first reached the ERP; `auto` when the run
  was started by the CRM event and no person acted on it before (no gate entered by a client);
- `lag:<bucket>` ERP booking -> forecast commit, bucketed (`LAG_BUCKETS`);
- `timing:<currency>` (count: `timing_runs`) the amount, in 1/10,000 units, of a booking committed
  to planning for another month than the ERP booked it in;
- `recon_balanced` / `recon_balanced_ms` a reconciliation balanced, and the time from its period's end;
- `recon_break_closed` / `recon_break_ms` a reconciliation break closed, and the time it was open;
- `actuals_loaded` / `actuals_ms` an entity's period actuals reached planning, time from the period's end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from process_apis.workflows.store import OPS_COUNTERS, Effect

__all__ = [
    "AMOUNT_SCALE",
    "DAY_PREFIX",
    "LAG_BUCKETS",
    "daily",
    "lag_bucket",
    "period_end",
    "scaled_amount",
    "since_period_end_ms",
]

DAY_PREFIX = "day:"
#: Amounts are counted as integers of 1/10,000 of the currency unit (exact for every ISO currency).
AMOUNT_SCALE = Decimal("10000")
#: Booking-to-forecast lag buckets: upper bound in seconds -> name (the last has no bound).
LAG_BUCKETS: tuple[tuple[float, str], ...] = (
    (60.0, "under_1m"),
    (300.0, "m1_to_5m"),
    (3600.0, "m5_to_1h"),
    (86400.0, "h1_to_24h"),
    (float("inf"), "over_24h"),
)


def daily(metric: str, legal_entity: str | None, at: datetime, by: int = 1) -> Effect:
    """The counter effect adding `by` to `metric` of `legal_entity` (None: `-`) on the UTC day of `at`."""
    day = at.astimezone(UTC).strftime("%Y-%m-%d")
    return Effect(kind="hincrby", key=OPS_COUNTERS, member=f"{DAY_PREFIX}{day}:{legal_entity or '-'}:{metric}", by=by)


def lag_bucket(seconds: float) -> str:
    return next(name for bound, name in LAG_BUCKETS if seconds < bound)


def scaled_amount(amount: Decimal) -> int:
    """`amount` in 1/10,000 units, exactly (rounded half-even below that)."""
    return int((amount * AMOUNT_SCALE).to_integral_value())


def period_end(period: str) -> datetime:
    """The first instant (UTC) after accounting month `period` (`YYYY-MM`)."""
    year, month = (int(part) for part in period.split("-"))
    return datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)


def since_period_end_ms(period: str, at: datetime) -> int:
    """Milliseconds from the end of `period` to `at` (0 when `at` is before it)."""
    return max(0, int((at - period_end(period)) / timedelta(milliseconds=1)))
