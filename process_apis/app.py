"""Composition root of the process API: system API clients, run store, workflow engine, workers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State

from process_apis.adapters import open_system_clients
from process_apis.audit import audit_router
from process_apis.controls import ControlStore, load_rule_set
from process_apis.controls.routes import controls_router
from process_apis.exceptions.dead_letter_routes import dead_letters_router
from process_apis.exceptions.dead_letters import DeadLetterStore
from process_apis.exceptions.policy import load_policy
from process_apis.exceptions.routes import exceptions_router
from process_apis.flows import Flows
from process_apis.flows.customer_sync import SentFields
from process_apis.flows.routes import flows_router
from process_apis.ops.routes import ops_router
from process_apis.proposals import Proposals, ProposalStore
from process_apis.proposals.routes import proposals_router
from process_apis.routes import v1_router
from process_apis.routes_v2 import v2_router
from process_apis.scheduling import LeaderLease, Scheduler, load_schedules
from process_apis.scheduling.routes import schedules_router
from process_apis.settings import ProcessSettings
from process_apis.versions import PublishedVersions, versions_router
from process_apis.workers import run_workers
from process_apis.workflows import OutagePolicy, QuoteToCash, RetryPolicy, RunStore
from process_apis.workflows.accounts import AccountSnapshots
from process_apis.workflows.customers import ResolvedCustomers
from process_apis.workflows.periods import PeriodCalendar
from process_apis.workflows.taxes import TaxCodes
from servicekit import ReadinessCheck, create_service_app, load_settings
from servicekit.audit_store import AuditStore

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
    # Fail at start-up, not on the first run, when a shipped control file is broken.
    load_rule_set(settings.rule_set)
    policy = load_policy(settings.exception_policy)
    schedules = load_schedules(settings.schedules)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_system_clients(settings) as clients:
            app.state.system_http = clients.http
            app.state.audit = AuditStore(app.state.redis)
            app.state.dead_letters = DeadLetterStore(app.state.redis)
            controls = ControlStore(app.state.redis, mapping=settings.mapping_set, rules=settings.rule_set)
            await controls.seed()
            app.state.controls = controls
            engine = QuoteToCash(
                store=RunStore(app.state.redis, lock_ttl=settings.lock_ttl),
                crm=clients.crm,
                erp=clients.erp,
                planning=clients.planning,
                controls=controls,
                policy=policy,
                retry=RetryPolicy(
                    retries=settings.step_retries,
                    backoff=settings.retry_backoff,
                    max_backoff=settings.retry_max_backoff,
                ),
                lock_wait=settings.lock_wait,
                batch_forecast=settings.forecast_window > 0,
                accounts=(
                    AccountSnapshots(app.state.redis, ttl=settings.account_cache_ttl)
                    if settings.account_cache_ttl > 0
                    else None
                ),
                customers=(
                    ResolvedCustomers(app.state.redis, ttl=settings.customer_cache_ttl)
                    if settings.customer_cache_ttl > 0
                    else None
                ),
                sent=SentFields(app.state.redis),
                outage=OutagePolicy(horizon=settings.outage_horizon, recheck_max=settings.outage_recheck_max),
                periods=PeriodCalendar(app.state.redis, clients.erp, ttl=settings.period_cache_ttl),
                taxes=TaxCodes(app.state.redis, clients.erp, ttl=settings.tax_code_cache_ttl),
            )
            app.state.q2c = engine
            app.state.versions = PublishedVersions(app.state.redis, app.state.audit, engine.clock)
            flows = Flows(
                redis=app.state.redis,
                crm=clients.crm,
                erp=clients.erp,
                planning=clients.planning,
                controls=controls,
                policy=policy,
                retry=engine.retry,
                clock=engine.clock,
                lock_wait=settings.lock_wait,
                versions=app.state.versions,
            )
            app.state.flows = flows
            app.state.scheduler = Scheduler(
                redis=app.state.redis,
                schedules=schedules,
                flows=flows,
                controls=controls,
                erp=clients.erp,
                lease=LeaderLease(app.state.redis, ttl=settings.scheduler_lease_ttl),
                clock=engine.clock,
                versions=app.state.versions,
                planning=clients.planning,
                version_watch=settings.version_watch,
                history_interval=settings.ops_history_interval,
            )
            app.state.proposals = Proposals(
                store=ProposalStore(app.state.redis), controls=controls, engine=engine, flows=flows, clock=engine.clock
            )
            if settings.workers:
                scheduler = app.state.scheduler if settings.scheduler else None
                async with run_workers(engine, app.state.redis, settings, flows=flows, scheduler=scheduler):
                    yield
            else:
                yield

    return create_service_app(
        name="process-api",
        settings=settings,
        route_handlers=[
            v1_router,
            v2_router,
            exceptions_router,
            dead_letters_router,
            controls_router,
            flows_router,
            ops_router,
            proposals_router,
            audit_router,
            schedules_router,
            versions_router,
        ],
        title="Finance Integration Gateway process API",
        description=(
            "Finance workflows as state machines with stage gates (quote-to-cash, customer master sync, "
            "actuals to plan, reconciliation), their exception queue, versioned controls and ops metrics."
        ),
        lifespan=[lifespan],
        readiness={name: _system_live(name) for name in ("crm", "erp", "planning")},
    )
