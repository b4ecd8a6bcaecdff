"""`fig serve <service>`: serve one service, configured by its FIG_* environment."""

from __future__ import annotations

import os

from deploy.services import BY_NAME
from servicekit.server import serve

__all__ = ["serve_service"]


def serve_service(name: str) -> None:
    """Run service `name` on granian; `FIG_WORKERS` processes (default 1), `FIG_HOST`/`FIG_PORT`."""
    spec = BY_NAME[name]
    serve(
        spec.factory,
        os.environ.get("FIG_HOST", "127.0.0.1"),
        int(os.environ.get("FIG_PORT", spec.port)),
        workers=int(os.environ.get("FIG_WORKERS", "1")),
        log_level=os.environ.get("FIG_SERVER_LOG_LEVEL", "warning"),
        reload_in_worker=spec.reload_in_worker,
    )
