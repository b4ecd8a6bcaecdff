"""The NetSuite sandbox: SuiteTalk REST (token, records, SuiteQL) plus `/__admin/` test controls."""

from __future__ import annotations

from typing import cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.types import HTTPScope, LifeSpanReceive, LifeSpanScope, LifeSpanSend, Receive, Scope, Send

from servicekit import health_router, load_settings
from servicekit.logging import configure_logging
from servicekit.observability import ObservabilityPlugin
from servicekit.telemetry import telemetry
from system_apis.erp.sandbox.admin import admin_router
from system_apis.erp.sandbox.errors import exception_handlers
from system_apis.erp.sandbox.fastpath import FastPath
from system_apis.erp.sandbox.governance import GovernanceMiddleware
from system_apis.erp.sandbox.routes_auth import token
from system_apis.erp.sandbox.routes_query import query_router
from system_apis.erp.sandbox.routes_records import record_router
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.settings import SandboxSettings

__all__ = ["SandboxApp", "create_app"]


class SandboxApp(Litestar):
    """Litestar, except that the hot vendor calls (`fastpath.FastPath`) are answered before routing."""

    fast_path: FastPath | None = None

    async def __call__(
        self,
        scope: Scope | LifeSpanScope,
        receive: Receive | LifeSpanReceive,
        send: Send | LifeSpanSend,
    ) -> None:
        if scope["type"] == ScopeType.HTTP and self.fast_path is not None:
            http_scope = cast("HTTPScope", scope)
            handler = self.fast_path.route(http_scope)
            if handler is not None:
                await self.fast_path.serve(handler, http_scope, cast("Receive", receive), cast("Send", send))
                return
        await super().__call__(scope, receive, send)


def _runtime(state: State) -> SandboxRuntime:
    runtime: SandboxRuntime = state.sandbox
    return runtime


def create_app(settings: SandboxSettings | None = None) -> Litestar:
    """Build the sandbox; state is loaded from `settings.data_dir` when it holds one, else seeded."""
    settings = settings or load_settings(SandboxSettings)
    configure_logging("netsuite-sandbox", settings.log_level)
    runtime = SandboxRuntime.start(settings)
    app = SandboxApp(
        route_handlers=[health_router({}), token, record_router, query_router, admin_router],
        dependencies={"sandbox": Provide(_runtime, sync_to_thread=False)},
        middleware=[GovernanceMiddleware(runtime)],
        exception_handlers=exception_handlers,
        state=State({"sandbox": runtime, "settings": settings}),
        on_shutdown=[runtime.close],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        debug=False,
        logging_config=None,
        plugins=[ObservabilityPlugin("netsuite-sandbox", settings)],
    )
    # The fast path answers before Litestar's middleware: with tracing on, every call goes through
    # the instrumented stack instead, so the sandbox's server spans join the trace.
    if settings.fast_path and not telemetry().tracing:
        app.fast_path = FastPath(runtime)
    return app
