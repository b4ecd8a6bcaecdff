"""Settings of the NetSuite sandbox (`FIG_` environment variables, defaults for a local run)."""

from __future__ import annotations

from servicekit import ServiceSettings
from system_apis.erp.devkey import DEV_ACCOUNT_ID, DEV_CLIENT_ID, DEV_KEY_ID

__all__ = ["SandboxSettings"]


class SandboxSettings(ServiceSettings, kw_only=True, frozen=True):
    """What the emulated NetSuite account looks like and how strict its governance is."""

    port: int = 8302
    #: Directory for the persisted account state (`netsuite.json`) and the dev key; memory only if unset.
    data_dir: str | None = None
    ns_account_id: str = DEV_ACCOUNT_ID
    #: The integration record seeded with the dev certificate (see system_apis/erp/devkey.py).
    ns_client_id: str = DEV_CLIENT_ID
    ns_key_id: str = DEV_KEY_ID
    #: Token-based authentication (OAuth 1.0a): the integration record's consumer key/secret and one
    #: access token of its user (dev values; a real account issues its own).
    ns_tba_consumer_key: str = "fig-tba-consumer-key"
    ns_tba_consumer_secret: str = "fig-tba-consumer-secret"
    ns_tba_token_id: str = "fig-tba-token-id"
    ns_tba_token_secret: str = "fig-tba-token-secret"
    #: Lifetime of issued access tokens in seconds (NetSuite: 3600); short values test re-auth.
    token_ttl: float = 3600.0
    #: Account concurrency limit: requests beyond this many in flight get 429 (NetSuite governance).
    max_in_flight: int = 15
    #: Multiplies the seeded customers and sales orders (benchmarks); 1 gives the small demo set.
    seed_scale: int = 1
    #: Base URL clients use, when the sandbox sits behind a proxy (the assertion `aud` is built from it).
    public_url: str | None = None
    #: Answer the hot record and SuiteQL calls before Litestar routes them (fastpath.py); off serves
    #: everything through the routes (same answers, more CPU per call).
    fast_path: bool = True
