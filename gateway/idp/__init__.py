"""The dev identity provider: OAuth 2.0 client-credentials tokens (ES256) and their JWKS."""

from __future__ import annotations

from gateway.idp.app import create_app
from gateway.idp.settings import IdpSettings

__all__ = ["IdpSettings", "create_app"]
