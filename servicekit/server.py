"""Run one service process on granian (chosen by measurement: see bench/README.md)."""

from __future__ import annotations

from granian import Granian
from granian.constants import HTTPModes, Interfaces
from granian.log import LogLevels

__all__ = ["serve"]


def serve(factory: str, host: str, port: int, *, workers: int = 1, log_level: str = "warning") -> None:
    """Serve `module:create_app` (called with no arguments in each worker) until SIGINT/SIGTERM.

    Granian drains in-flight requests on the way out and runs the app's lifespan in each worker.
    """
    Granian(
        target=factory,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        websockets=False,
        log_level=LogLevels(log_level.lower()),
        log_access=False,
        workers_kill_timeout=10,
    ).serve()
