"""The experience layer: the finance operations console, a web app over the public API.

It may import `contracts` and `servicekit` only, and reaches the gateway over HTTP with the
signed-in person's token, like any other consumer.
"""

from __future__ import annotations

from experience.app import create_app

__all__ = ["create_app"]
