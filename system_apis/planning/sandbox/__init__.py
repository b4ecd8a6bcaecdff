"""The Anaplan sandbox: a local emulator of Anaplan auth and the Integration API v2 subset we use."""

from __future__ import annotations

from system_apis.planning.sandbox.app import create_app
from system_apis.planning.sandbox.settings import AnaplanSandboxSettings

__all__ = ["AnaplanSandboxSettings", "create_app"]
