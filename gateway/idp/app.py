"""Composition root of the dev identity provider."""

from __future__ import annotations

from litestar import Litestar

from gateway.idp.clients import load_registry
from gateway.idp.issuer import TokenIssuer
from gateway.idp.keys import KeyRing
from gateway.idp.routes import discovery, jwks, rotate_key, token
from gateway.idp.settings import IdpSettings
from servicekit import create_service_app, load_settings

__all__ = ["create_app"]


def create_app(settings: IdpSettings | None = None) -> Litestar:
    """The dev IdP: client-credentials tokens (ES256), JWKS, discovery, key rotation. No Redis.

    The client registry and signing keys load here, so a bad registry stops start-up with a
    message naming the field. Run it with one worker: each process has its own current key
    (with `data_dir` they start from the same file, but a rotation reaches only one process).
    """
    settings = settings or load_settings(IdpSettings)
    if settings.key_grace_seconds < settings.token_ttl:
        raise ValueError(
            f"FIG_KEY_GRACE_SECONDS ({settings.key_grace_seconds}) must be at least FIG_TOKEN_TTL "
            f"({settings.token_ttl}), or tokens signed before a rotation stop verifying early"
        )
    issuer = TokenIssuer(
        load_registry(settings.clients_path),
        KeyRing(grace_seconds=settings.key_grace_seconds, data_dir=settings.data_dir),
        issuer=settings.effective_issuer,
        audience=settings.effective_audience,
        ttl=settings.token_ttl,
    )
    handlers = [token, jwks, discovery]
    if settings.admin_enabled:
        handlers.append(rotate_key)
    return create_service_app(
        name="idp",
        settings=settings,
        title="FIG dev identity provider",
        description="OAuth 2.0 client-credentials tokens for local runs; production uses a real issuer.",
        route_handlers=handlers,
        use_redis=False,
        auth=False,
        state={"token_issuer": issuer},
    )
