"""Authorisation by legal entity: a request may only touch entities its client is cleared for.

The entities a request names are its `legal_entity` path and query parameters (as the operation
documents them) and every `legal_entity` key in a JSON body, at any depth. Each must be in the
token's `legal_entities` claim and, if the client registry lists entities for the client, there too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from gateway.catalogue import ENTITY_FIELDS
from gateway.exchange import Exchange
from servicekit import Forbidden

__all__ = ["EntityPolicy", "named_entities"]

_MAX_DEPTH = 8


def _walk(value: Any, depth: int = 0) -> Iterator[str]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ENTITY_FIELDS and isinstance(item, str):
                yield item
            else:
                yield from _walk(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, depth + 1)


async def named_entities(exchange: Exchange) -> set[str]:
    """Every legal entity the request names (path, query, JSON body)."""
    operation = exchange.operation
    found: set[str] = set()
    if operation is None:
        return found
    for where, name in operation.entity_params:
        if where == "path" and name in exchange.path_params:
            found.add(exchange.path_params[name])
        elif where == "query" and exchange.query:
            found.update(v for k, v in parse_qsl(exchange.query.decode("latin-1")) if k == name)
    if operation.bodies and exchange.method in ("POST", "PUT", "PATCH"):
        media = (exchange.header(b"content-type") or b"").split(b";", 1)[0].strip().lower()
        if media == b"application/json" or media.endswith(b"+json"):
            found.update(_walk(await exchange.json_body()))
    return found


class EntityPolicy:
    """403 `entity-not-allowed` when the request names an entity the client is not cleared for."""

    async def apply(self, exchange: Exchange) -> None:
        claims = exchange.claims
        if claims is None or exchange.operation is None:
            return
        named = await named_entities(exchange)
        if not named:
            return
        allowed = set(claims.legal_entities)
        client = exchange.client
        if client is not None and client.legal_entities:
            allowed &= set(client.legal_entities)
        refused = sorted(named - allowed)
        if refused:
            raise Forbidden(
                f"Client {claims.client_id!r} may not act for legal entity {', '.join(refused)}.",
                slug="entity-not-allowed",
                title="Legal entity not allowed",
                extensions={"legal_entities": refused},
            )
