"""Planning versions: which are published, recorded as the process API sees them change."""

from __future__ import annotations

from process_apis.versions.ledger import VERSIONS_KEY, PublishedVersions, SeenVersion, committed_version
from process_apis.versions.routes import PlanningVersionList, versions_router

__all__ = [
    "VERSIONS_KEY",
    "PlanningVersionList",
    "PublishedVersions",
    "SeenVersion",
    "committed_version",
    "versions_router",
]
