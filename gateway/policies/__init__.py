"""The policy chain: small objects, each with one async `apply(exchange)`, run in order before forwarding.

A policy refuses by raising a servicekit ProblemError (rendered as problem+json and audited by the
proxy); it passes by returning, possibly after filling the exchange (`claims`, `body`). Order
(DESIGN.md section 4): size, authentication, authorisation -- then version lifecycle, rate limits,
idempotency and request validation slot in as further modules here, added to the list in
`gateway.app._policies`. A policy that needs Redis or HTTP gets its client in the constructor
(built in the lifespan), never per request; the hot path must not log.
"""

from __future__ import annotations

from gateway.policies.auth import AuthenticationPolicy, VerifiedTokenCache
from gateway.policies.base import Policy
from gateway.policies.scopes import ScopePolicy
from gateway.policies.size import BodySizePolicy

__all__ = ["AuthenticationPolicy", "BodySizePolicy", "Policy", "ScopePolicy", "VerifiedTokenCache"]
