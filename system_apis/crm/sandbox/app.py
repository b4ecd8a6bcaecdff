"""The Salesforce sandbox: a Litestar app speaking the Salesforce REST wire subset (platforms.md 1.8)."""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State

from servicekit.health import health_router
from servicekit.logging import configure_logging
from servicekit.observability import ObservabilityPlugin
from servicekit.settings import load_settings
from system_apis.crm.sandbox.admin import admin_router
from system_apis.crm.sandbox.errors import sandbox_exception_handlers
from system_apis.crm.sandbox.gate import LimitInfoMiddleware
from system_apis.crm.sandbox.routes_auth import token
from system_apis.crm.sandbox.routes_composite import composite_router
from system_apis.crm.sandbox.routes_org import org_router
from system_apis.crm.sandbox.routes_query import query_router
from system_apis.crm.sandbox.routes_sobjects import sobjects_router, versions
from system_apis.crm.sandbox.settings import SalesforceSandboxSettings
from system_apis.crm.sandbox.state import SandboxState

__all__ = ["create_app"]


def create_app(settings: SalesforceSandboxSettings | None = None) -> Litestar:
    """Build the sandbox; `None` reads `FIG_` variables. The org is seeded or reloaded from `data_dir`."""
    settings = settings or load_settings(SalesforceSandboxSettings)
    configure_logging("salesforce-sandbox", settings.log_level)
    sandbox = SandboxState(settings)
    return Litestar(
        route_handlers=[
            health_router({}),
            token,
            versions,
            sobjects_router,
            org_router,
            query_router,
            composite_router,
            admin_router,
        ],
        middleware=[LimitInfoMiddleware()],
        exception_handlers=sandbox_exception_handlers,
        state=State({"sf": sandbox, "settings": settings}),
        on_shutdown=[sandbox.close],
        openapi_config=None,
        request_max_body_size=settings.max_body_bytes,
        debug=False,
        logging_config=None,
        plugins=[ObservabilityPlugin("salesforce-sandbox", settings)],
    )
