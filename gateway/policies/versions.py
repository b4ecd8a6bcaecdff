"""Version lifecycle: retired versions 410, deprecated ones answer with their lifecycle headers.

Deprecated: `Deprecation: @<epoch>` (RFC 9745), `Sunset: <HTTP-date>` (RFC 8594) and
`Link: </v{successor}{prefix}>; rel="successor-version"` on every answer, and each call counted per
client (`HINCRBY fig:gateway:deprecated-usage:<api>:v<major> <client> 1`, pipelined, never awaited).
Unknown versions never match a route: 404 `unknown-route` from the route table.
"""

from __future__ import annotations

from gateway.errors import Gone
from gateway.exchange import Exchange
from gateway.redisbatch import RedisBatcher
from servicekit import NotFound

__all__ = ["DEPRECATED_USAGE", "VersionPolicy"]

DEPRECATED_USAGE = "fig:gateway:deprecated-usage:"


class VersionPolicy:
    """410 `version-retired` for a retired version; lifecycle headers and usage counts for deprecated ones."""

    def __init__(self, batcher: RedisBatcher) -> None:
        self.batcher = batcher

    async def apply(self, exchange: Exchange) -> None:
        route = exchange.route
        if route is None:
            return
        version = route.version
        if version.status == "retired":
            headers = {}
            if version.successor is not None:
                headers["Link"] = f'</v{version.successor}{route.config.prefix}>; rel="successor-version"'
            raise Gone(
                f"{route.config.api} v{version.major} is retired"
                + (f"; use v{version.successor}." if version.successor else "."),
                headers=headers,
            )
        if route.deprecation_headers:
            exchange.response_headers.extend(route.deprecation_headers)
            if version.status == "deprecated":
                self.batcher.hincrby(DEPRECATED_USAGE + route.key, exchange.client_id)
        if exchange.operation is None:
            raise NotFound(f"No API operation at {exchange.path}.", slug="unknown-route", title="Unknown route")
