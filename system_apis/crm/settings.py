"""Settings of the CRM system API (`FIG_` environment variables, defaults for a local run)."""

from __future__ import annotations

from contracts.streams import CRM_EVENTS
from servicekit.settings import ServiceSettings

__all__ = ["CrmSettings"]


class CrmSettings(ServiceSettings, kw_only=True, frozen=True):
    """Where Salesforce is and how to authenticate; the change feed's cadence and start."""

    port: int = 8201
    #: Salesforce login URL: the local sandbox, or a My Domain / test.salesforce.com URL.
    sandbox_url: str = "http://127.0.0.1:8301"
    #: PEM file of certificate authorities to trust for `sandbox_url` besides the system's: the local
    #: CA that `fig up` creates for the sandboxes' HTTPS (`var/tls/ca.pem`).
    sandbox_ca_bundle: str | None = None
    sf_api_version: str = "v62.0"
    #: Connected app; the defaults match the sandbox's seeded app.
    sf_client_id: str = "fig-crm-connected-app"
    sf_client_secret: str = "fig-crm-dev-secret"
    #: With a private key (PEM file) the JWT-bearer grant is used instead of client credentials.
    sf_private_key_file: str | None = None
    sf_username: str = "integration@fig.dev"
    sf_jwt_audience: str = "https://test.salesforce.com"
    sf_timeout: float = 10.0
    sf_retries: int = 2
    #: Ask for query pages of this size (Salesforce honours 200..2000); None keeps the org default.
    sf_batch_size: int | None = None
    #: Seconds between change-feed polls; 0 disables the feed.
    feed_interval: float = 5.0
    #: ISO datetime the feed starts from when no watermark is stored; default: the service start time.
    feed_since: str | None = None
    feed_stream: str = CRM_EVENTS
    #: Records read per feed poll (per feed).
    feed_batch: int = 200
    #: Also publish `crm.account.changed.v1` for every account change.
    feed_accounts: bool = True
    #: Seconds between account-feed polls: customer-master sync is not latency critical, and every idle
    #: poll spends one call of the org's daily API allocation.
    feed_account_interval: float = 10.0
