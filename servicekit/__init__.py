"""What every service is built from: settings, app factory, errors, context, Redis, streams, HTTP, auth."""

from __future__ import annotations

from servicekit.app import Lifespan, create_service_app, redis_ready
from servicekit.auth import (
    ClientCredentialsAuth,
    JWKSVerifier,
    ScopeGuard,
    ServiceAuthMiddleware,
    TokenClaims,
    claims_of,
    require_scopes,
)
from servicekit.body import StrictBody
from servicekit.context import correlation_id, current_correlation_id, new_correlation_id, outgoing_headers
from servicekit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    ServiceError,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from servicekit.health import ReadinessCheck, health_router
from servicekit.http import CircuitBreaker, CircuitOpenError, ResilientTransport, create_http_client
from servicekit.problems import exception_handlers, problem_response
from servicekit.redis import EmbeddedRedis, RedisClient, connect_redis, find_redis_server, free_port, free_ports
from servicekit.resilience import RetryRules, retry_after
from servicekit.server import serve
from servicekit.settings import ServiceSettings, SettingsError, load_settings
from servicekit.streams import Redeliver, StreamConsumer, StreamPublisher, encode_event

__all__ = [
    "BadRequest",
    "CircuitBreaker",
    "CircuitOpenError",
    "ClientCredentialsAuth",
    "Conflict",
    "EmbeddedRedis",
    "Forbidden",
    "JWKSVerifier",
    "Lifespan",
    "NotFound",
    "ProblemError",
    "ReadinessCheck",
    "Redeliver",
    "RedisClient",
    "ResilientTransport",
    "RetryRules",
    "ScopeGuard",
    "ServiceAuthMiddleware",
    "ServiceError",
    "ServiceSettings",
    "SettingsError",
    "StreamConsumer",
    "StreamPublisher",
    "StrictBody",
    "TokenClaims",
    "TooManyRequests",
    "Unauthorized",
    "Unprocessable",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "claims_of",
    "connect_redis",
    "correlation_id",
    "create_http_client",
    "create_service_app",
    "current_correlation_id",
    "encode_event",
    "exception_handlers",
    "find_redis_server",
    "free_port",
    "free_ports",
    "health_router",
    "load_settings",
    "new_correlation_id",
    "outgoing_headers",
    "problem_response",
    "redis_ready",
    "require_scopes",
    "retry_after",
    "serve",
]
