"""Composition root of the policy gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar
from litestar.datastructures import State

from gateway.audit import AuditLog
from gateway.config import load_config
from gateway.delegation import TokenExchanger
from gateway.fastpath import FastPath
from gateway.policies import (
    AuthenticationPolicy,
    EntityPolicy,
    IdempotencyPolicy,
    Policy,
    RateLimitPolicy,
    ScopePolicy,
    ShapePolicy,
    ValidationPolicy,
    VerifiedTokenCache,
    VersionPolicy,
)
from gateway.proxy import Gateway
from gateway.redisbatch import RedisBatcher
from gateway.runtime import ConfigReloader, Runtime, build_runtime
from gateway.settings import GatewaySettings
from gateway.upstreams import Upstream, resolve_upstream_urls
from servicekit import Lifespan, ReadinessCheck, create_service_app, load_settings
from servicekit.audit_store import AuditStore
from servicekit.settings import SettingsError

__all__ = ["create_app"]


def _policies(
    settings: GatewaySettings, batcher: RedisBatcher, tokens: VerifiedTokenCache, control: httpx.AsyncClient
) -> list[Policy]:
    """The chain, in the order of DESIGN.md section 4."""
    exchanger = None
    if settings.upstream_audience:
        if not settings.client_secret:
            raise SettingsError(
                f"FIG_CLIENT_SECRET is required: the secret of client {settings.client_id!r} at the identity "
                "provider, for exchanging consumer tokens (`fig up` generates a dev one; FIG_UPSTREAM_AUDIENCE= "
                "turns the exchange off)"
            )
        exchanger = TokenExchanger(
            settings.token_url,
            settings.client_id,
            settings.client_secret,
            settings.upstream_audience,
            control,
            max_entries=settings.token_cache_size,
        )
    return [
        ShapePolicy(settings.max_body_bytes, settings.max_header_bytes),
        AuthenticationPolicy(tokens, exchanger),
        ScopePolicy(),
        EntityPolicy(),
        VersionPolicy(batcher),
        RateLimitPolicy(batcher, lease_max=settings.rate_limit_lease_max, lease_ttl=settings.rate_limit_lease_ttl),
        IdempotencyPolicy(
            batcher,
            ttl=settings.idempotency_ttl,
            lock_ttl=settings.idempotency_lock_ttl,
            max_body=settings.idempotency_max_body,
        ),
        ValidationPolicy(),
    ]


def _lifespan(settings: GatewaySettings, first: Runtime) -> Lifespan:
    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        # One small client for the gateway's own calls (JWKS, readiness); the forwarding clients
        # are per upstream, so a slow upstream cannot starve key fetches.
        control: httpx.AsyncClient = app.state.control_http
        runtime = build_runtime(first.config, settings, control)
        upstreams = Upstream.from_config(runtime.config, resolve_upstream_urls(runtime.config, settings))
        batcher = RedisBatcher(app.state.redis)
        tokens = VerifiedTokenCache(settings.token_cache_size)
        gateway = Gateway(
            runtime,
            _policies(settings, batcher, tokens, control),
            upstreams,
            AuditLog(AuditStore(app.state.redis)),
            batcher,
            max_body_bytes=settings.max_body_bytes,
            buffer_limit_bytes=settings.buffer_limit_bytes,
            store_limit_bytes=settings.idempotency_max_body,
            body_timeouts=(settings.body_chunk_timeout, settings.body_timeout),
            access_log=settings.access_log,
        )
        app.state.gateway = gateway

        def apply(new: Runtime) -> None:
            urls = resolve_upstream_urls(new.config, settings)
            for up in new.config.upstreams:
                if up.name not in upstreams:
                    upstreams.update(Upstream.from_config(new.config, {up.name: urls[up.name]}))
            gateway.apply(new)
            # Tokens were verified against the old issuer list: verify again under the new one.
            tokens.clear()
            # Limits may have changed: leased rate-limit tokens go back to the shared budgets.
            for policy in gateway.policies:
                if isinstance(policy, RateLimitPolicy):
                    policy.reset()

        reloader = ConfigReloader(settings, control, lambda: gateway.runtime, apply)
        app.state.reloader = reloader
        reloader.start()
        try:
            yield
        finally:
            await reloader.stop()
            for policy in gateway.policies:
                if isinstance(policy, RateLimitPolicy | IdempotencyPolicy):
                    await policy.drain()
            await batcher.drain()
            await control.aclose()
            for upstream in upstreams.values():
                await upstream.aclose()

    return lifespan


async def _jwks_ready(state: State) -> None:
    gateway: Gateway = state.gateway
    for verifier in gateway.runtime.verifiers.values():
        jwks_url = await verifier.resolved_jwks_url()
        response = await state.control_http.get(jwks_url)
        response.raise_for_status()
        if not response.json().get("keys"):
            raise RuntimeError(f"the JWKS at {jwks_url} has no keys")


def _upstream_ready(name: str) -> ReadinessCheck:
    async def check(state: State) -> None:
        upstream: Upstream = state.gateway.upstreams[name]
        # Through the control client: readiness probes must not trip the forwarding breaker.
        response = await state.control_http.get(upstream.url + upstream.health_path)
        response.raise_for_status()

    return check


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    """The gateway: `/v{major}/...` through the policy chain to the upstreams; health; schema.

    The configuration and the OpenAPI documents are loaded and compiled here, so an invalid file
    stops start-up with a ConfigError naming line and field.
    """
    settings = settings or load_settings(GatewaySettings)
    config = load_config(settings.config_path)
    resolve_upstream_urls(config, settings)
    control = httpx.AsyncClient(timeout=5.0, trust_env=False)
    first = build_runtime(config, settings, control)
    readiness: dict[str, ReadinessCheck] = {"jwks": _jwks_ready}
    readiness.update({f"upstream:{u.name}": _upstream_ready(u.name) for u in config.upstreams})
    app = create_service_app(
        name="gateway",
        settings=settings,
        title="FIG gateway",
        description="Policy gateway: authentication, authorisation, audit and reverse proxy for the public APIs.",
        route_handlers=[],
        lifespan=[_lifespan(settings, first)],
        readiness=readiness,
        # The gateway authenticates in its own policy chain (audited), not with ServiceAuthMiddleware.
        auth=False,
        # The proxied paths' durations are the gateway's own histogram (gateway.telemetry).
        server_metrics=False,
    )
    app.state.control_http = control
    # Versioned paths skip Litestar's router and middleware (gateway.fastpath says why).
    app.asgi_handler = FastPath(app.asgi_handler)
    return app
