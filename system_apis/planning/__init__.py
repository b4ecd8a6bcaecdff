"""The planning system API: one service over Anaplan, with its connector and its local sandbox."""

from __future__ import annotations

from system_apis.planning.app import create_app
from system_apis.planning.settings import PlanningSettings

__all__ = ["PlanningSettings", "create_app"]
