"""Composition root of the policy gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State

from gateway.audit import AuditLog
from gateway.config import GatewayConfig, load_config
from gateway.policies import AuthenticationPolicy, BodySizePolicy, Policy, ScopePolicy, VerifiedTokenCache
from gateway.proxy import Gateway
from gateway.routes import proxy_mount
from gateway.routing import RouteTable
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstream, resolve_upstream_urls
from servicekit import JWKSVerifier, Lifespan, ReadinessCheck, create_service_app, load_settings

__all__ = ["create_app"]


def _policies(settings: GatewaySettings, verifier: JWKSVerifier) -> list[Policy]:
    """The chain, in the order DESIGN.md section 4 gives (the later policies slot in after scopes)."""
    return [
        BodySizePolicy(settings.max_body_bytes),
        AuthenticationPolicy(verifier, VerifiedTokenCache(settings.token_cache_size)),
        ScopePolicy(),
    ]


def _lifespan(settings: GatewaySettings, config: GatewayConfig, urls: dict[str, str]) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # One small client for the gateway's own calls (JWKS, readiness); the forwarding clients
        # are per upstream, so a slow upstream cannot starve key fetches.
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as control:
            verifier = JWKSVerifier(
                settings.effective_jwks_url,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                http=control,
                leeway=settings.token_leeway,
                min_refresh_interval=settings.jwks_refresh_interval,
            )
            upstreams = Upstream.from_config(config, urls)
            app.state.control_http = control
            app.state.gateway = Gateway(
                RouteTable(config),
                _policies(settings, verifier),
                upstreams,
                AuditLog(app.state.redis, settings.audit_stream, settings.audit_maxlen),
                max_body_bytes=settings.max_body_bytes,
                buffer_limit_bytes=settings.buffer_limit_bytes,
            )
            try:
                yield
            finally:
                for upstream in upstreams.values():
                    await upstream.aclose()

    return lifespan


async def _jwks_ready(state: State) -> None:
    settings: GatewaySettings = state.settings
    response = await state.control_http.get(settings.effective_jwks_url)
    response.raise_for_status()
    if not response.json().get("keys"):
        raise RuntimeError(f"the JWKS at {settings.effective_jwks_url} has no keys")


def _upstream_ready(name: str) -> ReadinessCheck:
    async def check(state: State) -> None:
        upstream: Upstream = state.gateway.upstreams[name]
        # Through the control client: readiness probes must not trip the forwarding breaker.
        response = await state.control_http.get(upstream.url + upstream.health_path)
        response.raise_for_status()

    return check


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    """The gateway: `/v{major}/...` through the policy chain to the upstreams; health; schema.

    The route table is loaded and checked here, so an invalid file stops start-up with a
    ConfigError naming the field.
    """
    settings = settings or load_settings(GatewaySettings)
    config = load_config(settings.config_path)
    urls = resolve_upstream_urls(config, settings)
    mounts = [proxy_mount(path) for path in RouteTable(config).mount_paths]
    readiness: dict[str, ReadinessCheck] = {"jwks": _jwks_ready}
    readiness.update({f"upstream:{name}": _upstream_ready(name) for name in config.upstreams})
    return create_service_app(
        name="gateway",
        settings=settings,
        title="FIG gateway",
        description="Policy gateway: authentication, authorisation, audit and reverse proxy for the public APIs.",
        route_handlers=mounts,
        lifespan=[_lifespan(settings, config, urls)],
        readiness=readiness,
        # The gateway authenticates in its own policy chain (audited), not with ServiceAuthMiddleware.
        auth=False,
    )
