"""Settings of the policy gateway (`FIG_`-prefixed environment variables)."""

from __future__ import annotations

from servicekit import ServiceSettings

__all__ = ["GatewaySettings"]


class GatewaySettings(ServiceSettings, kw_only=True, frozen=True):
    """The gateway's settings. Upstream `<name>` takes its URL from the field `<name>_url` if there is one.

    `idp_url`, `token_issuer` and `token_audience` (from ServiceSettings) say whose tokens are accepted.
    """

    port: int = 8000
    #: The audience of the tokens the gateway sends upstream. Each verified consumer token is
    #: exchanged at the IdP (RFC 8693) for one addressed to it, carrying the caller's identity, so
    #: consumer tokens (audience `token_audience`) are good at the gateway only. Empty: the consumer
    #: token is forwarded as it is (only for an upstream that accepts consumer tokens).
    upstream_audience: str = "fig-process"
    #: The gateway's own client at the IdP (for the token exchange). The secret has no default:
    #: `fig up` generates one; elsewhere a missing FIG_CLIENT_SECRET stops start-up.
    client_id: str = "gateway"
    client_secret: str | None = None
    #: The process API, upstream `process` of the route table.
    process_url: str = "http://127.0.0.1:8100"
    #: A TOML route table; unset uses the embedded `gateway.toml`.
    config_path: str | None = None
    #: Verified tokens kept (until they expire) so repeat calls skip the signature check.
    token_cache_size: int = 10_000
    #: Leeway in seconds for exp/nbf/iat.
    token_leeway: float = 30.0
    #: Upstream responses up to this size (with a known length) are sent in one piece; larger ones stream.
    buffer_limit_bytes: int = 262_144
    #: Seconds between checks of `config_path` for changes (0: reload on SIGHUP only).
    config_watch_interval: float = 2.0
    #: Directory of the OpenAPI documents the upstreams name; unset: the committed `contracts/openapi/`.
    openapi_dir: str | None = None
    #: Header block (names + values) larger than this is refused with 431.
    max_header_bytes: int = 16_384
    #: How long a completed financially material POST is replayed for its Idempotency-Key.
    idempotency_ttl: float = 86_400.0
    #: How long a key stays "in flight" if the gateway dies before the answer (then it may be retried).
    idempotency_lock_ttl: float = 60.0
    #: Stored answers larger than this are not kept (the key is released instead).
    idempotency_max_body: int = 1_048_576
    #: Most rate-limit tokens a worker takes from the shared budget at once (1: a Redis decision per
    #: request). A lease is also at most 1 % of a limit's budget, so small limits stay exact.
    rate_limit_lease_max: int = 64
    #: Seconds a lease lives; its unused tokens are then given back to the shared budget.
    rate_limit_lease_ttl: float = 0.1

    @property
    def token_url(self) -> str:
        return f"{self.idp_url.rstrip('/')}/oauth2/token"
