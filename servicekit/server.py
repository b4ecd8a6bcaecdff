"""Run one service process on granian (chosen by measurement: see bench/README.md)."""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels

__all__ = ["ForwardingGranian", "serve"]

log = logging.getLogger("servicekit.server")


class ForwardingGranian(Granian):  # type: ignore[misc,valid-type]  # granian's server class is untyped
    """Granian that passes SIGHUP on to its workers instead of respawning them.

    Granian's own SIGHUP answer starts new workers and stops the old ones a few seconds later,
    whether or not the new ones came up: a service whose new configuration is invalid would go
    down. A service that reloads in place (the gateway's `ConfigReloader` validates the new file
    and keeps the old one on error) wants the signal itself.
    """

    def signal_handler_reload(self, *args: Any, **kwargs: Any) -> None:
        for worker in list(self.wrks):
            pid = getattr(getattr(worker, "inner", None), "pid", None)
            if pid:
                try:
                    os.kill(pid, signal.SIGHUP)
                except ProcessLookupError:
                    log.warning("worker %s is gone; SIGHUP not delivered", pid)


def serve(
    factory: str,
    host: str,
    port: int,
    *,
    workers: int = 1,
    log_level: str = "warning",
    reload_in_worker: bool = False,
) -> None:
    """Serve `module:create_app` (called with no arguments in each worker) until SIGINT/SIGTERM.

    Granian drains in-flight requests on the way out and runs the app's lifespan in each worker.
    `reload_in_worker`: SIGHUP goes to the workers (the app reloads itself) instead of respawning them.
    """
    server = ForwardingGranian if reload_in_worker else Granian
    server(
        target=factory,
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        http=HTTPModes.http1,
        loop=Loops.uvloop,
        websockets=False,
        log_level=LogLevels(log_level.lower()),
        log_access=False,
        workers_kill_timeout=10,
    ).serve()
