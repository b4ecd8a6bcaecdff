"""The dev identity provider: client-credentials tokens, the OpenID Connect code flow for people, JWKS."""

from __future__ import annotations

from gateway.idp.app import create_app
from gateway.idp.settings import IdpSettings

__all__ = ["IdpSettings", "create_app"]
