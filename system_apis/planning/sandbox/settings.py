"""Settings of the Anaplan sandbox: `FIG_`-prefixed environment, defaults for a local run."""

from __future__ import annotations

from servicekit import ServiceSettings

__all__ = ["AnaplanSandboxSettings"]


class AnaplanSandboxSettings(ServiceSettings, kw_only=True, frozen=True):
    """The emulator's knobs; every delay is configurable so tests never wait for real Anaplan times."""

    port: int = 8303
    #: Directory for the persisted state (`anaplan-sandbox.json`); None keeps everything in memory.
    data_dir: str | None = None
    #: Seconds a task takes from creation to COMPLETE (NOT_STARTED for the first half, then IN_PROGRESS).
    task_delay: float = 2.0
    #: Token lifetime in seconds: Anaplan tokens last 35 minutes.
    token_ttl: float = 2100.0
    #: The seeded integration user (HTTP Basic on /token/authenticate).
    anaplan_user: str = "fig.integration@example.com"
    anaplan_password: str = "fig-dev-password"
    #: Export files are cut into chunks of this many bytes (Anaplan uses up to 10 MB).
    export_chunk_bytes: int = 10 * 1024 * 1024
    #: Extra deterministic cells for benchmarks: this many committed bookings and up to this many
    #: Actuals cells (at most 2,880); 0 seeds only the small demo set.
    seed_scale: int = 0
    #: Uploaded chunks may be up to 50 MB in Anaplan; the sandbox accepts a little more than that.
    max_body_bytes: int = 64 * 1024 * 1024
