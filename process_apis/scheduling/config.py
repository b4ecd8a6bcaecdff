"""Schedules are configuration: a TOML file in the package (or a path), decoded strictly at start-up.

    [[schedules]]
    name = "nightly-reconciliation"
    kind = "reconciliation"          # or "reference_sync", "period_watch"
    at = "02:00"                     # daily at this UTC time; or every_seconds = 3600
    periods = ["previous", "current"]
    tolerance = "0.01"
    after_period_close = true        # also reconcile an entity's period when the ERP closes it

A file that does not decode, a schedule with both or neither of `at` and `every_seconds`, a
duplicate name or a reconciliation option on another kind stops start-up with the schedule named.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

__all__ = ["Schedule", "ScheduleError", "ScheduleKind", "Schedules", "load_schedules", "next_run", "periods_of"]

ScheduleKind = Literal["reconciliation", "reference_sync", "period_watch"]
RelativePeriod = Literal["previous", "current"]


class ScheduleError(ValueError):
    """The schedules file does not exist or is not valid; the message says where."""


class Schedule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One scheduled job: what it runs and when (daily `at` HH:MM UTC, or `every_seconds`)."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
    kind: ScheduleKind
    description: str = ""
    enabled: bool = True
    at: Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    every_seconds: Annotated[float, msgspec.Meta(ge=1, le=31 * 86_400)] | None = None
    #: Reconciliation: which months (relative to the run's UTC date) each entity is reconciled for.
    periods: list[RelativePeriod] | None = None
    #: Reconciliation: the absolute tolerance (a decimal string) in the entity's currency.
    tolerance: Decimal | None = None
    #: Reconciliation: also run for an entity's period when the ERP reports it closed.
    after_period_close: bool = False


class Schedules(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    schedules: list[Schedule]


def _check(schedules: Schedules, origin: str) -> Schedules:
    seen: set[str] = set()
    for item in schedules.schedules:
        where = f"{origin}: schedule {item.name!r}"
        if item.name in seen:
            raise ScheduleError(f"{where} is defined twice")
        seen.add(item.name)
        if (item.at is None) == (item.every_seconds is None):
            raise ScheduleError(f"{where} needs exactly one of `at` (HH:MM UTC) and `every_seconds`")
        if item.kind != "reconciliation" and (
            item.periods is not None or item.tolerance is not None or item.after_period_close
        ):
            raise ScheduleError(f"{where}: periods, tolerance and after_period_close apply to reconciliation only")
        if item.tolerance is not None and item.tolerance < 0:
            raise ScheduleError(f"{where}: tolerance must be zero or positive")
        if item.kind == "reconciliation" and item.periods == []:
            raise ScheduleError(f"{where}: periods must name at least one of previous, current")
    return schedules


def load_schedules(name: str) -> Schedules:
    """The schedules named `name` (`process_apis/scheduling/schedules/<name>.toml`) or at path `name`
    (ending `.toml`); ScheduleError when missing or invalid."""
    if name.endswith(".toml"):
        path = Path(name)
        if not path.is_file():
            raise ScheduleError(f"no schedules file {name}")
        raw = path.read_bytes()
    else:
        resource = resources.files("process_apis.scheduling").joinpath("schedules", f"{name}.toml")
        if not resource.is_file():
            raise ScheduleError(f"no shipped schedules named {name!r}")
        raw = resource.read_bytes()
    try:
        data = tomllib.loads(raw.decode())
        return _check(msgspec.convert(data, type=Schedules, strict=False), name)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
        raise ScheduleError(f"{name}: {exc}") from None


def next_run(schedule: Schedule, last_started: datetime | None, now: datetime) -> datetime:
    """When the schedule runs next: `every_seconds` after the last start (or after now if it never
    ran: a stack starting up is not hit by every schedule at once, before its systems are ready),
    or the next `at` time of day (UTC) after the last start (after now if it never ran)."""
    if schedule.every_seconds is not None:
        return (last_started or now) + timedelta(seconds=schedule.every_seconds)
    assert schedule.at is not None  # checked at load
    hour, minute = int(schedule.at[:2]), int(schedule.at[3:])
    after = (last_started or now).astimezone(UTC)
    candidate = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return candidate if candidate > after else candidate + timedelta(days=1)


def periods_of(schedule: Schedule, now: datetime) -> list[str]:
    """The `YYYY-MM` periods a reconciliation schedule covers at `now` (UTC)."""
    today = now.astimezone(UTC).date()
    previous = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    current = today.strftime("%Y-%m")
    return [previous if p == "previous" else current for p in (schedule.periods or ["previous", "current"])]
