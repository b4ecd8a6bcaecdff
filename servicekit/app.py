"""The app factory every service is built from: one shape, one error format, one set of middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler, Middleware

from servicekit.auth import JWKSVerifier, ServiceAuthMiddleware
from servicekit.docs import docs_assets_router, docs_render_plugins
from servicekit.health import ReadinessCheck, health_router
from servicekit.logging import configure_logging
from servicekit.observability import ObservabilityPlugin
from servicekit.openapi import allow_header_fix, document_handlers, finish_document
from servicekit.problems import exception_handlers
from servicekit.query import strict_query
from servicekit.redis import connect_redis
from servicekit.settings import ServiceSettings
from servicekit.slowbody import BodyTimeoutMiddleware

__all__ = ["Lifespan", "create_service_app", "redis_ready"]

Lifespan = Callable[[Litestar], AbstractAsyncContextManager[None]]


async def redis_ready(state: State) -> None:
    """Readiness check: the process's Redis answers PING."""
    await state.redis.ping()


def _redis_lifespan(url: str) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client = connect_redis(url)
        app.state.redis = client
        try:
            yield
        finally:
            await client.aclose()

    return lifespan


def _verifier_lifespan(settings: ServiceSettings) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as http:
            app.state.verifier = JWKSVerifier(
                settings.effective_jwks_url,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                http=http,
                min_refresh_interval=settings.jwks_refresh_interval,
                max_keys_age=settings.jwks_max_age,
                token_type=settings.token_type or None,
            )
            yield

    return lifespan


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    route_handlers: Sequence[ControllerRouterHandler],
    title: str | None = None,
    version: str = "1.0.0",
    description: str | None = None,
    lifespan: Sequence[Lifespan] = (),
    readiness: Mapping[str, ReadinessCheck] | None = None,
    use_redis: bool = True,
    auth: bool = True,
    middleware: Sequence[Middleware] = (),
    on_app_init: Sequence[Callable[[AppConfig], AppConfig]] = (),
    state: Mapping[str, Any] | None = None,
    server_metrics: bool = True,
) -> Litestar:
    """Compose a service: logging, telemetry, correlation, access log and `/metrics` (ObservabilityPlugin),
    problem+json, health, Redis, bearer auth.

    `lifespan` context managers run after the shared ones (Redis, JWKS verifier), so they can use
    `app.state.redis`. With `auth` and `settings.auth_required`, every route but health and the
    schema needs a verified bearer token; handlers add `guards=[require_scopes(...)]`.
    `server_metrics=False` leaves the HTTP server duration histogram to the service itself.
    """
    configure_logging(name, settings.log_level)
    checks: dict[str, ReadinessCheck] = {}
    spans: list[Lifespan] = []
    if use_redis:
        if not settings.redis_url:
            raise ValueError(f"{name} needs FIG_REDIS_URL (fig up starts an embedded Redis and sets it)")
        spans.append(_redis_lifespan(settings.redis_url))
        checks["redis"] = redis_ready
    enforce_auth = auth and settings.auth_required
    stack: list[Middleware] = [BodyTimeoutMiddleware(settings.body_chunk_timeout, settings.body_timeout)]
    if enforce_auth:
        spans.append(_verifier_lifespan(settings))
        stack.append(ServiceAuthMiddleware())
    stack.extend(middleware)
    checks.update(readiness or {})
    app = Litestar(
        route_handlers=[health_router(checks), docs_assets_router(), *route_handlers],
        lifespan=[*spans, *lifespan],
        middleware=stack,
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        state=State({**(state or {}), "settings": settings, "auth_required": enforce_auth}),
        on_app_init=list(on_app_init),
        plugins=[ObservabilityPlugin(name, settings, server_metrics=server_metrics)],
        openapi_config=OpenAPIConfig(
            title=title or name,
            version=version,
            description=description,
            path="/schema",
            render_plugins=docs_render_plugins(),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                }
            ),
            use_handler_docstrings=True,
        ),
        before_send=[allow_header_fix()],
        before_request=strict_query(),
        debug=False,
        logging_config=None,
    )
    # The document is built once here, so the served `/schema` and `fig contracts export` agree.
    document_handlers(app, auth=auth)
    finish_document(app)
    return app
