"""The CRM system API: canonical opportunities and accounts over Salesforce, plus its change feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from litestar import Litestar
from litestar.datastructures import State

from servicekit.app import Lifespan, create_service_app
from servicekit.http import CircuitBreaker, create_http_client
from servicekit.settings import load_settings
from system_apis.crm.connector.auth import SalesforceCredentials, SessionProvider
from system_apis.crm.connector.client import SalesforceClient
from system_apis.crm.connector.reader import CrmReader
from system_apis.crm.feed import OpportunityFeed
from system_apis.crm.routes import v1_router
from system_apis.crm.settings import CrmSettings

__all__ = ["create_app", "salesforce_ready"]


async def salesforce_ready(state: State) -> None:
    """Readiness: Salesforce answers its version list (no session, no API allocation spent)."""
    settings: CrmSettings = state.settings
    response = await state.crm_http.get(settings.sandbox_url.rstrip("/") + "/services/data/")
    response.raise_for_status()


def _feed_start(settings: CrmSettings) -> datetime:
    if not settings.feed_since:
        return datetime.now(UTC)
    since = datetime.fromisoformat(settings.feed_since.replace("Z", "+00:00"))
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _lifespan(settings: CrmSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        started = _feed_start(settings)
        http = create_http_client(
            settings.sandbox_url,
            timeout=settings.sf_timeout,
            retries=settings.sf_retries,
            breaker=CircuitBreaker(threshold=5, cooldown=5.0),
        )
        credentials = SalesforceCredentials(
            login_url=settings.sandbox_url,
            client_id=settings.sf_client_id,
            client_secret=settings.sf_client_secret,
            username=settings.sf_username,
            private_key_file=settings.sf_private_key_file,
            audience=settings.sf_jwt_audience,
        )
        client = SalesforceClient(
            http, SessionProvider(http, credentials), api_version=settings.sf_api_version,
            batch_size=settings.sf_batch_size,
        )  # fmt: skip
        reader = CrmReader(client)
        app.state.crm_http = http
        app.state.crm_client = client
        app.state.crm_reader = reader
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if settings.feed_interval > 0:
            feed = OpportunityFeed(
                reader, app.state.redis, start=started, stream=settings.feed_stream, batch=settings.feed_batch
            )
            app.state.crm_feed = feed
            task = asyncio.create_task(feed.run(settings.feed_interval, stop), name="crm-change-feed")
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, timeout=5.0)
            await http.aclose()

    return lifespan


def create_app(settings: CrmSettings | None = None) -> Litestar:
    """Build the CRM system API; `None` reads `FIG_` variables."""
    settings = settings or load_settings(CrmSettings)
    return create_service_app(
        name="crm",
        settings=settings,
        route_handlers=[v1_router],
        title="CRM system API",
        description="Canonical opportunities and accounts from Salesforce.",
        lifespan=[_lifespan(settings)],
        readiness={"salesforce": salesforce_ready},
    )
