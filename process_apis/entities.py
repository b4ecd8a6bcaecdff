"""Legal-entity segregation: which entities' data a caller may see and change.

The process API owns the data, so it enforces the caller's entities on every read and write, not
only where a request names an entity (the gateway checks those too). The rules:

- A resource of another entity (a run, exception, reconciliation report) answers 404 like one
  that does not exist: the caller must not learn it exists. Lists and figures hold only the
  caller's entities.
- A request that names an entity outside the caller's (a body's `legal_entity`, the `legal_entity`
  or `entity` query parameter) is 403 `entity-not-allowed`, the gateway's answer to the same request.
- A change that reaches other entities too (another entity's mapping region, the product mappings
  every entity sells, a rule set) needs clearance for all of them (403 `entity-not-allowed`).
- A resource whose entity is not known (a run whose CRM region no mapping set maps, a customer
  master sync) and figures no entity owns (policy violations by flow) are shown only to a caller
  cleared for every entity of the active mapping set.
- A token without a `legal_entities` claim is cleared for no entity, as at the gateway (whose
  entity policy allows only the entities the claim lists). `*` has no special meaning.
- With authentication switched off (`FIG_AUTH_REQUIRED=false`, local tools) every entity is allowed.

`caller_entities` is the one place that reads the caller's entities from the verified identity
(`caller_subject` the one that reads who the caller is).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

from process_apis.actors import actor_of
from process_apis.controls import ControlSource
from servicekit import Forbidden, claims_of

__all__ = ["EntityScope", "caller_actor", "caller_entities", "caller_subject", "entity_not_allowed", "entity_scope"]


def caller_entities(connection: ASGIConnection[Any, Any, Any, Any]) -> frozenset[str] | None:
    """The legal entities the verified caller is cleared for; None: every entity (authentication off).

    Today the verified token is the consumer's own (the gateway forwards it); the token's
    `legal_entities` claim is the answer. This is the only function that reads it.
    """
    if not connection.app.state.get("auth_required", True):
        return None
    claims = claims_of(connection.scope)
    return claims.legal_entities if claims is not None else frozenset()


def caller_subject(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Who the verified caller is (the token's `sub`: a client, or a person); `anonymous` with authentication off.

    Four eyes compares it: a proposal's approver must differ from its proposer.
    """
    claims = claims_of(connection.scope)
    return claims.subject if claims is not None else "anonymous"


def caller_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The caller as run gates and exception histories record it: `person:<sub>` or `client:<id>`."""
    return actor_of(claims_of(connection.scope))


def entity_not_allowed(entities: Iterable[str]) -> Forbidden:
    """403 `entity-not-allowed` for a request naming entities the caller is not cleared for."""
    refused = sorted(set(entities))
    return Forbidden(
        f"The caller may not act for legal entity {', '.join(refused)}.",
        slug="entity-not-allowed",
        title="Legal entity not allowed",
        extensions={"legal_entities": refused},
    )


class EntityScope:
    """One request's view: the entities it may see and change (`allowed`; None = every entity)."""

    __slots__ = ("_everything", "allowed", "controls")

    def __init__(self, allowed: frozenset[str] | None, controls: ControlSource) -> None:
        self.allowed = allowed
        self.controls = controls
        self._everything: bool | None = None if allowed is not None else True

    async def everything(self) -> bool:
        """Whether the caller is cleared for every entity of the active mapping set (read once)."""
        if self._everything is None:
            mapping, _ = await self.controls.current()
            known = {e.legal_entity for e in mapping.regions.values()}
            self._everything = self.allowed is not None and known <= self.allowed
        return self._everything

    async def admits(self, entity: str | None) -> bool:
        """Whether a resource of `entity` (None: not known) is the caller's to see and change."""
        if entity is None:
            return await self.everything()
        return self.allowed is None or entity in self.allowed

    def require(self, *entities: str | None) -> None:
        """403 `entity-not-allowed` unless the caller is cleared for every entity the request names."""
        if self.allowed is None:
            return
        refused = [e for e in entities if e is not None and e not in self.allowed]
        if refused:
            raise entity_not_allowed(refused)

    def require_every(self, entities: Iterable[str]) -> None:
        """403 `entity-not-allowed` unless the caller is cleared for all of `entities` (every known
        entity, for a change that applies to all); the answer does not list them."""
        if self.allowed is not None and not set(entities) <= self.allowed:
            raise Forbidden(
                "This change applies to every legal entity; the caller is cleared for only some.",
                slug="entity-not-allowed",
                title="Legal entity not allowed",
            )


async def entity_scope(request: Request[Any, Any, Any]) -> EntityScope:
    """The Litestar dependency (`scope`) handing a request its EntityScope."""
    return EntityScope(caller_entities(request), request.app.state.controls)
