"""The planning system API (port 8203): committed bookings, actuals, versions and import status over
the Anaplan connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State

from servicekit import Lifespan, create_http_client, create_service_app, load_settings
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.routes import v1_router
from system_apis.planning.settings import PlanningSettings

__all__ = ["create_app"]


async def planning_ready(state: State) -> None:
    """Readiness: Anaplan (or its sandbox) answers, accepts our login and knows our model."""
    connector: PlanningConnector = state.planning
    await connector.check()


def _connector_lifespan(settings: PlanningSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        http_client = create_http_client(
            settings.sandbox_url, timeout=settings.anaplan_timeout, ca_bundle=settings.sandbox_ca_bundle
        )
        async with http_client as http:
            app.state.planning = PlanningConnector(settings.anaplan_config(), http)
            yield

    return lifespan


def create_app(settings: PlanningSettings | None = None) -> Litestar:
    """Build the service; `None` loads `PlanningSettings` from the `FIG_` environment."""
    settings = settings or load_settings(PlanningSettings)
    return create_service_app(
        name="planning",
        title="Planning system API",
        description=(
            "Committed bookings and actuals into and out of the planning platform (Anaplan), its forecast "
            "versions and the status of import tasks."
        ),
        settings=settings,
        route_handlers=[v1_router],
        lifespan=[_connector_lifespan(settings)],
        readiness={"anaplan": planning_ready},
    )
