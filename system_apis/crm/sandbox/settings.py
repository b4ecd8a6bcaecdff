"""Settings of the Salesforce sandbox (`FIG_` environment variables, defaults for a local run)."""

from __future__ import annotations

from servicekit.settings import ServiceSettings

__all__ = ["SalesforceSandboxSettings"]


class SalesforceSandboxSettings(ServiceSettings, kw_only=True, frozen=True):
    """How the emulated org behaves: seed, paging, session timeout, API allocation, credentials."""

    port: int = 8301
    #: Where the org state is persisted as JSON (`salesforce.json`); None keeps it in memory only.
    data_dir: str | None = None
    #: Seed of the deterministic data generator; the same seed gives the same org.
    seed: int = 20261127
    #: Multiplier of the generated volume: 50 accounts and 200 opportunities per unit.
    scale: int = 1
    #: Records per query page unless `Sforce-Query-Options: batchSize=N` asks for 200..2000.
    batch_size: int = 200
    #: Seconds a session (access token) stays valid after it was issued.
    session_timeout: float = 7200.0
    #: Daily API request allocation (Developer Edition: 15,000).
    daily_api_limit: int = 15_000
    #: The seeded connected app (client credentials flow and JWT `iss`).
    client_id: str = "fig-crm-connected-app"
    client_secret: str = "fig-crm-dev-secret"
    #: The integration user the connected app runs as (JWT `sub`).
    username: str = "integration@fig.dev"
    #: Accepted JWT `aud` values (comma separated).
    jwt_audiences: str = "https://test.salesforce.com,https://login.salesforce.com"
    #: PEM file of the certificate's public key; when set, JWT assertions must verify (RS256).
    jwt_public_key_file: str | None = None
    org_id: str = "00D8d0000000FIGORG"
    user_id: str = "0058d00000FIGUSRAA"
