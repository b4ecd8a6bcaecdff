"""Composition root of the dev identity provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig

from gateway.idp.admin import rotate_key
from gateway.idp.clients import load_registry
from gateway.idp.discovery import oauth_metadata, openid_configuration
from gateway.idp.issuer import TokenIssuer
from gateway.idp.keys import KeyRing
from gateway.idp.oidc import authorize, login, logout, userinfo
from gateway.idp.persons import PersonTokens
from gateway.idp.routes import jwks, token
from gateway.idp.sessions import SessionStore
from gateway.idp.settings import IdpSettings
from gateway.idp.throttle import FailureThrottle
from gateway.idp.users import UserDirectory, load_users
from servicekit import create_service_app, load_settings

__all__ = ["create_app"]


def _check(settings: IdpSettings) -> None:
    if settings.key_grace_seconds < settings.token_ttl:
        raise ValueError(
            f"FIG_KEY_GRACE_SECONDS ({settings.key_grace_seconds}) must be at least FIG_TOKEN_TTL "
            f"({settings.token_ttl}), or tokens signed before a rotation stop verifying early"
        )
    if settings.admin_enabled and len(settings.admin_token or "") < 16:
        raise ValueError(
            "FIG_ADMIN_TOKEN (at least 16 characters) is required when FIG_ADMIN_ENABLED is true: "
            "the admin endpoint never answers without a credential"
        )


def create_app(settings: IdpSettings | None = None) -> Litestar:
    """The dev IdP: client-credentials tokens and the OpenID Connect code flow for people (ES256),
    JWKS, discovery, and key rotation when enabled.

    The client registry (`FIG_CLIENTS_PATH`, required: the embedded one is a template without
    secrets), the people (`FIG_USERS_PATH`) and signing keys load here, so a bad file or a missing
    secret stops start-up with a message naming the variable. Codes, refresh tokens and the
    failed-authentication throttle live in Redis (shared by IdP processes); signing keys are per
    process (with `data_dir` they start from the same file, but a rotation reaches only one process).
    """
    settings = settings or load_settings(IdpSettings)
    _check(settings)
    users = load_users(settings.users_path) if settings.users_path else UserDirectory([], [])
    issuer = TokenIssuer(
        load_registry(settings.clients_path),
        KeyRing(grace_seconds=settings.key_grace_seconds, data_dir=settings.data_dir),
        issuer=settings.effective_issuer,
        audience=settings.effective_audience,
        ttl=settings.token_ttl,
    )

    @asynccontextmanager
    async def stores(app: Litestar) -> AsyncIterator[None]:
        app.state.throttle = FailureThrottle(
            app.state.redis,
            subject_limit=settings.auth_failure_limit,
            address_limit=settings.auth_failure_address_limit,
            window=settings.auth_failure_window,
        )
        app.state.sessions = SessionStore(
            app.state.redis, login_ttl=settings.login_ttl, code_ttl=settings.code_ttl, refresh_ttl=settings.refresh_ttl
        )
        yield

    def cors(config: AppConfig) -> AppConfig:
        # One configured browser origin; Litestar's CORS middleware answers preflights itself,
        # before any handler looks for a token.
        if settings.console_origin:
            config.cors_config = CORSConfig(
                allow_origins=[settings.console_origin],
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
                allow_credentials=False,
                max_age=600,
            )
        return config

    handlers = [token, jwks, openid_configuration, oauth_metadata, authorize, login, userinfo, logout]
    if settings.admin_enabled:
        handlers.append(rotate_key)
    return create_service_app(
        name="idp",
        settings=settings,
        title="FIG dev identity provider",
        description="OAuth 2.0 / OpenID Connect for local runs; production points at a real provider.",
        route_handlers=handlers,
        lifespan=[stores],
        auth=False,
        on_app_init=[cors],
        state={"token_issuer": issuer, "users": users, "people": PersonTokens(issuer, users)},
    )
