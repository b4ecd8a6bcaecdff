"""Run one service process on granian (chosen by measurement: see bench/README.md)."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
from pathlib import Path
from typing import Any

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels

__all__ = ["ForwardingGranian", "serve", "tune_gc", "tuned_app"]

FACTORY_ENV = "FIG_APP_FACTORY"

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


def tune_gc() -> None:
    """Keep the cyclic garbage collector off the hot path of a serving process.

    A service allocates many short-lived objects per request, nearly all freed by reference
    counting; with CPython's default young-generation threshold (700) the collector ran every few
    requests and rescanned what start-up built (route tables, validators, OpenAPI documents, Lua
    scripts). Those are frozen (never scanned again) and the young generation collects every
    100,000 allocations instead; cycles are still collected, just in larger sweeps. The measured
    effect is in bench/README.md.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def tuned_app() -> Any:
    """Granian's factory in each worker: build the app named by `FIG_APP_FACTORY`, then `tune_gc()`."""
    module_name, _, attr = os.environ[FACTORY_ENV].partition(":")
    app = getattr(importlib.import_module(module_name), attr)()
    tune_gc()
    return app


def serve(
    factory: str,
    host: str,
    port: int,
    *,
    workers: int = 1,
    log_level: str = "warning",
    reload_in_worker: bool = False,
    ssl_certificate: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Serve `module:create_app` (called with no arguments in each worker) until SIGINT/SIGTERM.

    Each worker builds the app through `tuned_app`, which tunes the garbage collector after it.

    Granian drains in-flight requests on the way out and runs the app's lifespan in each worker.
    `reload_in_worker`: SIGHUP goes to the workers (the app reloads itself) instead of respawning them.
    `ssl_certificate` + `ssl_keyfile` (PEM; the key PKCS#8): serve HTTPS instead of HTTP.
    """
    tls: dict[str, Any] = {}
    if ssl_certificate and ssl_keyfile:
        tls = {"ssl_cert": Path(ssl_certificate), "ssl_key": Path(ssl_keyfile)}
    server = ForwardingGranian if reload_in_worker else Granian
    os.environ[FACTORY_ENV] = factory
    server(
        target="servicekit.server:tuned_app",
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
        **tls,
    ).serve()
