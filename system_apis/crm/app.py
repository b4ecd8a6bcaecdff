"""The CRM system API: canonical opportunities and accounts over Salesforce, plus its change feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from litestar import Litestar
from litestar.datastructures import State

from servicekit.app import Lifespan, create_service_app
from servicekit.http import CircuitBreaker, create_http_client
from servicekit.redis import RedisClient
from servicekit.settings import load_settings
from system_apis.crm.connector.auth import SalesforceCredentials, SessionProvider
from system_apis.crm.connector.client import SalesforceClient
from system_apis.crm.connector.reader import CrmReader
from system_apis.crm.connector.writer import CrmWriter
from system_apis.crm.feed import AccountFeed, KeysetFeed, OpportunityFeed, run_feeds
from system_apis.crm.routes import v1_router
from system_apis.crm.settings import CrmSettings

__all__ = ["build_feeds", "build_reader", "create_app", "salesforce_ready"]


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


def build_reader(settings: CrmSettings) -> tuple[httpx.AsyncClient, CrmReader]:
    """The Salesforce connector as settings describe it: its HTTP client (close it) and the reader."""
    http = create_http_client(
        settings.sandbox_url,
        timeout=settings.sf_timeout,
        retries=settings.sf_retries,
        breaker=CircuitBreaker(threshold=5, cooldown=5.0),
        ca_bundle=settings.sandbox_ca_bundle,
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
    return http, CrmReader(client)


def build_feeds(settings: CrmSettings, reader: CrmReader, redis: RedisClient, start: datetime) -> list[KeysetFeed]:
    """The change feeds the settings ask for: approved opportunities, and account changes."""
    common: dict[str, Any] = {"start": start, "stream": settings.feed_stream, "batch": settings.feed_batch}
    feeds: list[KeysetFeed] = [OpportunityFeed(reader, redis, **common)]
    if settings.feed_accounts:
        feeds.append(AccountFeed(reader, redis, interval=settings.feed_account_interval, **common))
    return feeds


def _lifespan(settings: CrmSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        started = _feed_start(settings)
        http, reader = build_reader(settings)
        app.state.crm_http = http
        app.state.crm_client = reader.client
        app.state.crm_reader = reader
        app.state.crm_writer = CrmWriter(reader.client)
        stop = asyncio.Event()
        task: asyncio.Task[None] | None = None
        if settings.feed_interval > 0:
            feeds = build_feeds(settings, reader, app.state.redis, started)
            app.state.crm_feeds = feeds
            task = asyncio.create_task(run_feeds(feeds, settings.feed_interval, stop), name="crm-change-feed")
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
        description="Canonical opportunities and accounts from Salesforce, and their change feeds.",
        lifespan=[_lifespan(settings)],
        readiness={"salesforce": salesforce_ready},
    )
