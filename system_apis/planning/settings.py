"""Settings of the planning system API: `FIG_`-prefixed environment, dev defaults for the local stack.

The Anaplan ids and credentials default to the sandbox seed, so `fig up` works unconfigured; a real
tenant sets `FIG_SANDBOX_URL=https://api.anaplan.com`, `FIG_ANAPLAN_AUTH_URL=https://auth.anaplan.com`
and its own ids and integration user.
"""

from __future__ import annotations

from servicekit import ServiceSettings
from system_apis.planning.connector.config import AnaplanConfig

__all__ = ["PlanningSettings"]


class PlanningSettings(ServiceSettings, kw_only=True, frozen=True):
    port: int = 8203
    #: Anaplan Integration API base (the local Anaplan sandbox by default).
    sandbox_url: str = "http://127.0.0.1:8303"
    #: PEM file of certificate authorities to trust for `sandbox_url` besides the system's: the local
    #: CA that `fig up` creates for the sandboxes' HTTPS (`var/tls/ca.pem`).
    sandbox_ca_bundle: str | None = None
    #: Anaplan authentication service base; None means the same host as `sandbox_url`.
    anaplan_auth_url: str | None = None
    anaplan_user: str = "fig.integration@example.com"
    anaplan_password: str = "fig-dev-password"
    anaplan_workspace_id: str = "8a81b08e654f3cef0165a4b8d29d1e4f"
    anaplan_model_id: str = "75A40874E6B64FA3AE0743278996850F"
    anaplan_bookings_import_id: str = "112000000000"
    anaplan_bookings_file_id: str = "113000000000"
    anaplan_bookings_export_id: str = "116000000000"
    anaplan_actuals_import_id: str = "112000000001"
    anaplan_actuals_file_id: str = "113000000001"
    anaplan_actuals_export_id: str = "116000000001"
    #: The version actuals loads write into, and the product item for lines without a product.
    anaplan_actuals_version: str = "Actuals"
    #: The version committed bookings are written to and read from (reads name it, published or not).
    anaplan_bookings_version: str = "Committed Bookings"
    anaplan_no_product: str = "UNALLOCATED"
    #: One load is one import: its CSV goes up in gzip chunks of this many (uncompressed) bytes,
    #: at most `max_chunks` of them (Anaplan: 1 to 50 MB per chunk, 1000 chunks per file).
    chunk_bytes: int = 10 * 1024 * 1024
    max_chunks: int = 1000
    #: Seconds between task polls: 5 per Anaplan's guidance; the local stack and tests set it lower.
    poll_interval: float = 5.0
    task_timeout: float = 900.0
    refresh_margin: float = 300.0
    max_retries: int = 5
    retry_base: float = 2.0
    retry_max: float = 30.0
    #: Per-call HTTP timeout towards Anaplan, in seconds.
    anaplan_timeout: float = 30.0
    #: The largest contract loads: 10,000 bookings (about 2.5 MB of JSON) and 100,000 actuals
    #: lines (about 10 MB).
    max_body_bytes: int = 16 * 1024 * 1024

    def anaplan_config(self) -> AnaplanConfig:
        return AnaplanConfig(
            api_url=self.sandbox_url,
            auth_url=self.anaplan_auth_url or self.sandbox_url,
            user=self.anaplan_user,
            password=self.anaplan_password,
            workspace_id=self.anaplan_workspace_id,
            model_id=self.anaplan_model_id,
            bookings_import_id=self.anaplan_bookings_import_id,
            bookings_file_id=self.anaplan_bookings_file_id,
            bookings_export_id=self.anaplan_bookings_export_id,
            actuals_import_id=self.anaplan_actuals_import_id,
            actuals_file_id=self.anaplan_actuals_file_id,
            actuals_export_id=self.anaplan_actuals_export_id,
            actuals_version=self.anaplan_actuals_version,
            bookings_version=self.anaplan_bookings_version,
            no_product=self.anaplan_no_product,
            chunk_bytes=self.chunk_bytes,
            max_chunks=self.max_chunks,
            poll_interval=self.poll_interval,
            task_timeout=self.task_timeout,
            refresh_margin=self.refresh_margin,
            max_retries=self.max_retries,
            retry_base=self.retry_base,
            retry_max=self.retry_max,
        )
