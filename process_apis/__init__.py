"""The process API: finance workflows (quote-to-cash) over the system APIs."""

from __future__ import annotations

from process_apis.app import create_app
from process_apis.settings import ProcessSettings

__all__ = ["ProcessSettings", "create_app"]
