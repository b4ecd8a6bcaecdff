"""What the planning connector needs to know about one Anaplan model and how patient to be."""

from __future__ import annotations

import msgspec

__all__ = ["AnaplanConfig"]


class AnaplanConfig(msgspec.Struct, kw_only=True, frozen=True):
    """Endpoints, credentials, object ids and timing of the connector (all from service settings)."""

    #: Integration API base, e.g. `https://api.anaplan.com` (or the sandbox `http://127.0.0.1:8303`).
    api_url: str
    #: Authentication service base, e.g. `https://auth.anaplan.com`; the sandbox serves both.
    auth_url: str
    user: str
    password: str
    workspace_id: str
    model_id: str
    bookings_import_id: str
    bookings_file_id: str
    bookings_export_id: str
    actuals_import_id: str
    actuals_file_id: str
    actuals_export_id: str
    #: The version actuals are loaded into (its edit window must be open in the model).
    actuals_version: str = "Actuals"
    #: The version the committed-bookings module's cells belong to (the module has no version dimension).
    bookings_version: str = "Committed Bookings"
    #: The product list item that stands for "no product" (canonical `product_code: null`).
    no_product: str = "UNALLOCATED"
    #: Uncompressed bytes per uploaded chunk (Anaplan: 1 to 50 MB, at most 1000 chunks per file).
    chunk_bytes: int = 10 * 1024 * 1024
    #: Chunks per file before the connector refuses a load (Anaplan: at most 1000).
    max_chunks: int = 1000
    #: Seconds between task status polls; Anaplan asks for no more than one poll every 5 s.
    poll_interval: float = 5.0
    #: Seconds a task may take before the connector gives up waiting (the task itself runs on).
    task_timeout: float = 900.0
    #: Refresh the token this many seconds before it expires (tokens last 35 minutes).
    refresh_margin: float = 300.0
    #: Retries of a call answered 409 (model busy) or 429 (throttled) before giving up.
    max_retries: int = 5
    #: Backoff before retry n is a random share of min(retry_max, retry_base * 2**(n-1)) seconds.
    retry_base: float = 2.0
    retry_max: float = 30.0
