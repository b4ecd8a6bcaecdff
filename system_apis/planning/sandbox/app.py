"""The Anaplan sandbox: authentication service + Integration API v2 subset on one port (8303).

State lives in the process (and in `data_dir`), so serve it with one worker.
"""

from __future__ import annotations

from functools import partial

from litestar import Litestar, Router
from litestar.config.app import AppConfig

from servicekit import create_service_app, load_settings
from system_apis.planning.sandbox.admin import admin_router
from system_apis.planning.sandbox.errors import vendor_error_handlers
from system_apis.planning.sandbox.faults import FaultBook, FaultMiddleware
from system_apis.planning.sandbox.routes_auth import auth_handlers
from system_apis.planning.sandbox.routes_files import file_handlers
from system_apis.planning.sandbox.routes_models import model_handlers
from system_apis.planning.sandbox.routes_tasks import task_handlers
from system_apis.planning.sandbox.routes_versions import version_handlers
from system_apis.planning.sandbox.settings import AnaplanSandboxSettings
from system_apis.planning.sandbox.store import Store
from system_apis.planning.sandbox.wire import require_token

__all__ = ["create_app"]


def _vendor_errors(config: AppConfig) -> AppConfig:
    # The sandbox emulates Anaplan: its errors take the vendor's shapes, not problem+json.
    config.exception_handlers = dict(vendor_error_handlers)
    return config


def create_app(settings: AnaplanSandboxSettings | None = None) -> Litestar:
    """Build the sandbox; state is loaded from `settings.data_dir` when a saved state exists there."""
    settings = settings or load_settings(AnaplanSandboxSettings)
    handlers = [*model_handlers, *file_handlers, *task_handlers, *version_handlers]
    store = Store(settings)
    api = Router(path="/2/0", route_handlers=handlers, guards=[require_token])
    return create_service_app(
        name="anaplan-sandbox",
        title="Anaplan sandbox",
        description=(
            "Emulates Anaplan authentication, the Integration API v2 bulk subset and the version metadata "
            "the planning connector uses."
        ),
        settings=settings,
        route_handlers=[*auth_handlers, api, admin_router],
        use_redis=False,
        auth=False,
        middleware=[FaultMiddleware()],
        on_app_init=[_vendor_errors, partial(_close_on_shutdown, store)],
        state={"store": store, "faults": FaultBook()},
    )


def _close_on_shutdown(store: Store, config: AppConfig) -> AppConfig:
    # Clean shutdown folds the journal into the snapshot (see store.py).
    config.on_shutdown = [*config.on_shutdown, store.close]
    return config
