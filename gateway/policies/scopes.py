"""Authorisation: the verified token must carry every scope the operation needs."""

from __future__ import annotations

from gateway.exchange import Exchange
from servicekit import Forbidden

__all__ = ["ScopePolicy"]


class ScopePolicy:
    """403 `insufficient-scope` when a scope the route table names for the operation is missing."""

    async def apply(self, exchange: Exchange) -> None:
        operation, claims = exchange.operation, exchange.claims
        if operation is None or not operation.scopes:
            return
        granted = claims.scopes if claims is not None else frozenset()
        if not operation.scopes <= granted:
            missing = sorted(operation.scopes - granted)
            raise Forbidden(
                f"The token lacks the scope(s) {', '.join(missing)} that {operation.operation_id} needs.",
                slug="insufficient-scope",
                title="Insufficient scope",
                extensions={"required_scopes": sorted(operation.scopes)},
            )
