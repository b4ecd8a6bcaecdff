"""The process API's scheduler: configured jobs run by one leader across instances."""

from __future__ import annotations

from process_apis.scheduling.config import Schedule, ScheduleError, Schedules, load_schedules
from process_apis.scheduling.leader import LeaderLease
from process_apis.scheduling.reference import ReferenceSync
from process_apis.scheduling.scheduler import Scheduler

__all__ = [
    "LeaderLease",
    "ReferenceSync",
    "Schedule",
    "ScheduleError",
    "Scheduler",
    "Schedules",
    "load_schedules",
]
