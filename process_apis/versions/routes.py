"""`GET /v1/planning-versions`: the planning versions seen, and when each was first seen published."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Router, get
from litestar.datastructures import State
from litestar.params import QueryParameter

from process_apis.versions.ledger import PublishedVersions, SeenVersion
from servicekit import require_scopes

__all__ = ["PlanningVersionList", "versions_router"]


class PlanningVersionList(msgspec.Struct, kw_only=True, frozen=True):
    """Planning versions as the process API last saw them, by id."""

    items: list[SeenVersion]


@get(
    "/planning-versions",
    operation_id="listPlanningVersions",
    summary="List the planning versions seen, with when each was first seen published",
    guards=[require_scopes("ops:read")],
)
async def list_planning_versions(
    state: State,
    published: Annotated[
        bool | None, QueryParameter(description="Only published (true) or unpublished (false) versions")
    ] = None,
) -> PlanningVersionList:
    """The versions of the planning model the process API has seen (by the scheduler's version watch
    and by reconciliations), with `published_since`. Only published versions feed reported figures;
    each publication and withdrawal is also in the audit log (`planning.version.published`,
    `planning.version.unpublished`, global chain). Versions belong to no legal entity."""
    versions: PublishedVersions = state.versions
    return PlanningVersionList(items=[v for v in await versions.all() if published is None or v.published == published])


versions_router = Router(path="/v1", route_handlers=[list_planning_versions], tags=["ops"])
