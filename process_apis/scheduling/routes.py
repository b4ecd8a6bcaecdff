"""`GET /v1/schedules`: the configured schedules with their last and next run."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec
from litestar import Router, get
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from process_apis.entities import EntityScope, entity_scope
from process_apis.scheduling.config import ScheduleKind
from process_apis.scheduling.scheduler import RunResult, Scheduler
from servicekit import require_scopes

__all__ = ["LastRun", "ScheduleList", "ScheduleView", "schedules_router"]


class LastRun(msgspec.Struct, kw_only=True, frozen=True):
    """A schedule's last run: when, what started it, and its results (of the caller's entities)."""

    started_at: datetime
    finished_at: datetime | None
    status: Literal["ok", "failed"] | None
    trigger: Literal["schedule", "period_close"] | None
    results: list[RunResult]


class ScheduleView(msgspec.Struct, kw_only=True, frozen=True):
    """One configured schedule: what it runs, when (daily `at` HH:MM UTC or `every_seconds`)."""

    name: str
    kind: ScheduleKind
    description: str
    enabled: bool
    at: str | None
    every_seconds: float | None
    periods: list[str] | None
    tolerance: Decimal | None
    after_period_close: bool
    #: None until the leading instance has planned it (or while the scheduler is switched off).
    next_run_at: datetime | None
    runs: int
    last_run: LastRun | None


class ScheduleList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[ScheduleView]
    #: Whether this instance runs the scheduler (`FIG_SCHEDULER`); one leader among those that do runs the jobs.
    scheduler_enabled: bool


def _scheduler(state: State) -> Scheduler:
    scheduler: Scheduler = state.scheduler
    return scheduler


@get(
    "/schedules",
    operation_id="listSchedules",
    summary="List the scheduled jobs with their last and next run",
    guards=[require_scopes("ops:read")],
)
async def list_schedules(
    scheduler: NamedDependency[Scheduler], entities: NamedDependency[EntityScope], state: State
) -> ScheduleList:
    """Every configured schedule (reconciliation per entity and period, reference-data sync).

    A last run's results are shown for the caller's legal entities; results of no entity (the
    reference-data sync) only to callers cleared for every entity."""
    stored = await scheduler.states()
    items = []
    for schedule in scheduler.schedules.schedules:
        record = stored.get(schedule.name)
        last = None
        if record is not None and record.last_started_at is not None:
            results = [r for r in record.results if await entities.admits(r.legal_entity)]
            last = LastRun(
                started_at=record.last_started_at,
                finished_at=record.last_finished_at,
                status=record.last_status,
                trigger=record.last_trigger,
                results=results,
            )
        items.append(
            ScheduleView(
                name=schedule.name,
                kind=schedule.kind,
                description=schedule.description,
                enabled=schedule.enabled,
                at=schedule.at,
                every_seconds=schedule.every_seconds,
                periods=list(schedule.periods) if schedule.periods is not None else None,
                tolerance=schedule.tolerance,
                after_period_close=schedule.after_period_close,
                next_run_at=record.next_run_at if record is not None and schedule.enabled else None,
                runs=record.runs if record is not None else 0,
                last_run=last,
            )
        )
    return ScheduleList(items=items, scheduler_enabled=bool(state.settings.scheduler))


schedules_router = Router(
    path="/v1",
    route_handlers=[list_schedules],
    dependencies={"scheduler": Provide(_scheduler, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["ops"],
)
