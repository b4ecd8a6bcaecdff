"""The ERP system API: canonical customers and sales orders over NetSuite, plus its change feed."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.datastructures import State

from servicekit import Lifespan, create_http_client, create_service_app, load_settings
from system_apis.erp.connector import NetSuiteClient, NetSuiteTokens, load_private_key
from system_apis.erp.connector.auth import TOKEN_PATH
from system_apis.erp.feed import CustomerFeed, PeriodFeed, SalesOrderFeed, run_feeds
from system_apis.erp.routes import v1_router
from system_apis.erp.settings import ErpSettings

__all__ = ["create_app", "netsuite_ready"]


async def netsuite_ready(state: State) -> None:
    """Readiness: NetSuite answers and accepts our credentials (a cached token costs no call)."""
    client: NetSuiteClient = state.netsuite
    await client.tokens.token()


def _initial_since(settings: ErpSettings) -> datetime:
    if settings.feed_since:
        since = datetime.fromisoformat(settings.feed_since)
        return since if since.tzinfo else since.replace(tzinfo=UTC)
    return datetime.now(UTC) - timedelta(seconds=settings.feed_margin)


def _netsuite_lifespan(settings: ErpSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        base = settings.sandbox_url.rstrip("/")
        async with create_http_client(
            base,
            timeout=settings.ns_timeout,
            max_retry_after=settings.ns_max_retry_after,
            ca_bundle=settings.sandbox_ca_bundle,
        ) as http:
            tokens = NetSuiteTokens(
                http,
                token_url=base + TOKEN_PATH,
                client_id=settings.ns_client_id,
                key_id=settings.ns_key_id,
                key=load_private_key(settings.ns_key_path),
                algorithm=settings.ns_key_algorithm,
                backoff=settings.ns_backoff,
            )
            client = NetSuiteClient(
                http,
                tokens,
                max_in_flight=settings.ns_max_in_flight,
                throttle_retries=settings.ns_throttle_retries,
                backoff=settings.ns_backoff,
                max_backoff=settings.ns_max_backoff,
                max_retry_after=settings.ns_max_retry_after,
                page_size=settings.ns_page_size,
            )
            app.state.netsuite = client
            if settings.feed_interval <= 0:
                yield
                return
            since = _initial_since(settings)
            feeds = [
                feed(
                    client,
                    app.state.redis,
                    initial_since=since,
                    lag=settings.feed_lag,
                    page_size=settings.feed_page_size,
                )
                for feed in (SalesOrderFeed, PeriodFeed, CustomerFeed)
            ]
            app.state.erp_feeds = feeds
            stop = asyncio.Event()
            task = asyncio.create_task(run_feeds(feeds, stop, settings.feed_interval), name="erp-change-feeds")
            try:
                yield
            finally:
                stop.set()
                try:
                    await asyncio.wait_for(task, timeout=settings.ns_timeout)
                except TimeoutError:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    return lifespan


def create_app(settings: ErpSettings | None = None) -> Litestar:
    """Compose the ERP system API; the NetSuite client and the feed poller live in the lifespan."""
    settings = settings or load_settings(ErpSettings)
    return create_service_app(
        name="erp",
        settings=settings,
        route_handlers=[v1_router],
        title="ERP system API",
        description="Canonical customers, sales orders, accounting periods, posted actuals and reference data over "
        "NetSuite; emits erp.sales_order.booked.v1, erp.period.closed.v1 and erp.customer.changed.v1.",
        lifespan=[_netsuite_lifespan(settings)],
        readiness={"netsuite": netsuite_ready},
    )
