"""Settings of the ERP system API (`FIG_` environment variables; dev defaults match the sandbox)."""

from __future__ import annotations

from typing import Literal

from servicekit import ServiceSettings
from system_apis.erp.devkey import DEV_ACCOUNT_ID, DEV_CLIENT_ID, DEV_KEY_ID

__all__ = ["ErpSettings"]


class ErpSettings(ServiceSettings, kw_only=True, frozen=True):
    """Where NetSuite is, how we authenticate to it, how hard we may push it, and the change feed."""

    port: int = 8202
    #: NetSuite REST base (`https://<account>.suitetalk.api.netsuite.com` for a real account).
    sandbox_url: str = "http://127.0.0.1:8302"
    #: PEM file of certificate authorities to trust for `sandbox_url` besides the system's: the local
    #: CA that `fig up` creates for the sandboxes' HTTPS (`var/tls/ca.pem`).
    sandbox_ca_bundle: str | None = None
    ns_account_id: str = DEV_ACCOUNT_ID
    #: M2M integration client id and certificate id (`kid`) of the OAuth 2.0 mapping.
    ns_client_id: str = DEV_CLIENT_ID
    ns_key_id: str = DEV_KEY_ID
    #: PEM private key of the mapped certificate; empty uses the deterministic dev key (sandbox only).
    ns_key_path: str = ""
    ns_key_algorithm: Literal["ES256", "ES384", "ES512", "PS256", "PS384", "PS512"] = "ES256"
    #: Our share of the account's concurrency limit: requests in flight at once.
    ns_max_in_flight: int = 4
    ns_throttle_retries: int = 5
    ns_backoff: float = 0.2
    ns_max_backoff: float = 5.0
    #: The longest `Retry-After` (429, 503) one call waits out before repeating; a longer one fails
    #: the call at once with 503 and that `Retry-After`, so the caller schedules its own retry.
    ns_max_retry_after: float = 2.0
    ns_timeout: float = 10.0
    #: Rows per SuiteQL page for multi-page reads (NetSuite allows up to 1000).
    ns_page_size: int = 1000
    #: Seconds between change-feed polls; 0 disables the poller.
    feed_interval: float = 2.0
    #: ISO 8601 start of the feed when no watermark is stored yet (default: start time - feed_margin).
    feed_since: str | None = None
    feed_margin: float = 5.0
    #: Rows modified in the last `feed_lag` s wait for the next poll, so a write landing in the same
    #: millisecond as the watermark cannot be skipped.
    feed_lag: float = 1.0
    feed_page_size: int = 200
