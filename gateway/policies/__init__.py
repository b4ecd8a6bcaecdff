"""The policy chain: small objects, each with one async `apply(exchange)`, run in order before forwarding.

A policy refuses by raising a servicekit ProblemError (rendered as problem+json and audited by the
proxy); it passes by returning, possibly after filling the exchange (`claims`, `client`, `body`,
response headers, a replay). Order (DESIGN.md section 4): shape and size, authentication, authorisation
(client, API version, scopes; then legal entities), version lifecycle, rate limit, idempotency,
request validation. A policy that needs Redis gets the shared `RedisBatcher` in its constructor;
the hot path does not log.
"""

from __future__ import annotations

from gateway.policies.auth import AuthenticationPolicy, VerifiedTokenCache
from gateway.policies.base import Policy
from gateway.policies.entities import EntityPolicy
from gateway.policies.idempotency import IdempotencyPolicy
from gateway.policies.ratelimit import RateLimitPolicy
from gateway.policies.scopes import ScopePolicy
from gateway.policies.size import BodySizePolicy, ShapePolicy
from gateway.policies.validation import ValidationPolicy, report_response
from gateway.policies.versions import VersionPolicy

__all__ = [
    "AuthenticationPolicy",
    "BodySizePolicy",
    "EntityPolicy",
    "IdempotencyPolicy",
    "Policy",
    "RateLimitPolicy",
    "ScopePolicy",
    "ShapePolicy",
    "ValidationPolicy",
    "VerifiedTokenCache",
    "VersionPolicy",
    "report_response",
]
