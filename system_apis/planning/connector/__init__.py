"""The Anaplan connector: token auth, chunked upload, import/export tasks, canonical mapping."""

from __future__ import annotations

from system_apis.planning.connector.bulk import AnaplanBulk
from system_apis.planning.connector.client import PlanningConnector
from system_apis.planning.connector.config import AnaplanConfig
from system_apis.planning.connector.session import AnaplanSession

__all__ = ["AnaplanBulk", "AnaplanConfig", "AnaplanSession", "PlanningConnector"]
