"""Run one service process on uvicorn (see ARCHITECTURE.md for why uvicorn)."""

from __future__ import annotations

from typing import Any

import uvicorn

__all__ = ["serve"]


def serve(app: Any, host: str, port: int, *, log_level: str = "warning") -> None:
    """Serve an ASGI app until SIGINT/SIGTERM; uvicorn drains in-flight requests on the way out."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        log_config=None,
    )
