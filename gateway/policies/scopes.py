"""Authorisation: a registered client, an API version it may call, and the operation's scopes.

The scopes come from the operation's `security` in its committed OpenAPI document (any one
requirement object met in full). Legal entities are checked by `gateway.policies.entities`.
"""

from __future__ import annotations

from gateway.exchange import Exchange
from servicekit import Forbidden

__all__ = ["ScopePolicy"]


class ScopePolicy:
    """403 `unknown-client`, `api-not-allowed` or `insufficient-scope`."""

    async def apply(self, exchange: Exchange) -> None:
        claims, route = exchange.claims, exchange.route
        if claims is None or route is None:
            return
        client = exchange.runtime.clients.get(claims.client_id)
        if client is None:
            raise Forbidden(
                f"Client {claims.client_id!r} is not registered with the gateway.",
                slug="unknown-client",
                title="Unknown client",
            )
        exchange.client = client
        if route.config.major not in client.apis.get(route.config.api, ()):
            raise Forbidden(
                f"Client {claims.client_id!r} may not call {route.config.api} v{route.config.major}.",
                slug="api-not-allowed",
                title="API not allowed",
            )
        operation = exchange.operation
        if operation is None or operation.scope_ok(claims.scopes):
            return
        granted = claims.scopes
        closest = min(operation.scopes, key=lambda required: len(required - granted))
        needed = sorted(closest)
        missing = sorted(closest - granted)
        raise Forbidden(
            f"The token lacks the scope(s) {', '.join(missing)} that {operation.operation_id} needs.",
            slug="insufficient-scope",
            title="Insufficient scope",
            extensions={"required_scopes": needed},
        )
