"""Composition root of the process API: system API clients, run store, workflow engine, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State

from process_apis.adapters import open_system_clients
from process_apis.controls import load_mapping_set
from process_apis.routes import v1_router
from process_apis.settings import ProcessSettings
from process_apis.workers import run_workers
from process_apis.workflows import QuoteToCash, RetryPolicy, RunStore
from servicekit import ReadinessCheck, create_service_app, load_settings

__all__ = ["create_app"]


def _system_live(name: str) -> ReadinessCheck:
    async def check(state: State) -> None:
        client: httpx.AsyncClient = state.system_http[name]
        # Health needs no token: skip the client's credentials flow so the IdP is not a dependency.
        response = await client.get("/health/live", auth=None)
        if response.status_code != 200:
            raise RuntimeError(f"{name} /health/live answered {response.status_code}")

    return check


def create_app(settings: ProcessSettings | None = None) -> Litestar:
    """The process API; settings from `FIG_*` when not given."""
    settings = settings or load_settings(ProcessSettings)
    mapping = load_mapping_set(settings.mapping_set)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_system_clients(settings) as clients:
            app.state.system_http = clients.http
            engine = QuoteToCash(
                store=RunStore(app.state.redis, lock_ttl=settings.lock_ttl),
                crm=clients.crm,
                erp=clients.erp,
                planning=clients.planning,
                mapping=mapping,
                retry=RetryPolicy(
                    retries=settings.step_retries,
                    backoff=settings.retry_backoff,
                    max_backoff=settings.retry_max_backoff,
                ),
                lock_wait=settings.lock_wait,
            )
            app.state.q2c = engine
            if settings.workers:
                async with run_workers(engine, app.state.redis, settings):
                    yield
            else:
                yield

    return create_service_app(
        name="process-api",
        settings=settings,
        route_handlers=[v1_router],
        title="Finance Integration Gateway process API",
        description="Finance workflows as state machines with stage gates: quote-to-cash.",
        lifespan=[lifespan],
        readiness={name: _system_live(name) for name in ("crm", "erp", "planning")},
    )
