"""The compiled configuration a request runs on, and its reload (SIGHUP or a watched file).

A `Runtime` is immutable once built: the route table with the operations of the OpenAPI
documents, the client registry, the rate-limit tiers and one verifier per trusted issuer. A reload
builds a new one completely and swaps it in; each request keeps the snapshot it started with.
A reload that fails (bad TOML, unknown reference, unreadable document) logs an error and leaves the
old runtime in force.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.catalogue import RouteTable, load_documents, openapi_dir
from gateway.config import ClientConfig, GatewayConfig, LimitConfig, load_config
from gateway.errors import ConfigError
from gateway.settings import GatewaySettings
from servicekit import JWKSVerifier

__all__ = ["ConfigReloader", "Runtime", "build_runtime"]

log = logging.getLogger("gateway.config")

#: (issuer, JWKS URL or None for discovery, audiences, algorithms): one verifier each, kept across reloads.
_VerifierKey = tuple[str, str | None, tuple[str, ...], tuple[str, ...]]


class Runtime:
    """Everything configuration-derived that the policies need, built once per (re)load."""

    def __init__(
        self,
        config: GatewayConfig,
        routes: RouteTable,
        verifiers: dict[str, JWKSVerifier],
        verifier_keys: dict[_VerifierKey, JWKSVerifier],
        documents: list[Path] | None = None,
    ) -> None:
        self.config = config
        #: The OpenAPI files this runtime was compiled from (watched for changes).
        self.documents = documents or []
        self.routes = routes
        self.clients: dict[str, ClientConfig] = {c.client_id: c for c in config.clients}
        self.limits: dict[tuple[str, str], LimitConfig] = {}
        for tier in config.tiers:
            for route in config.routes:
                limit = tier.limits.get(route.tier) or tier.limits["default"]
                self.limits[tier.name, route.tier] = limit
        #: `iss` → verifier.
        self.verifiers = verifiers
        self.verifier_keys = verifier_keys


def build_runtime(
    config: GatewayConfig,
    settings: GatewaySettings,
    http: httpx.AsyncClient,
    previous: Runtime | None = None,
    documents_dir: Path | None = None,
) -> Runtime:
    """Compile `config` (reading the OpenAPI documents); reuses the previous verifiers' key caches."""
    base = documents_dir or (Path(settings.openapi_dir) if settings.openapi_dir else openapi_dir())
    documents = {u.name: load_documents(u.documents, base) for u in config.upstreams}
    routes = RouteTable(config, documents)
    issuers = [(i.issuer, i.jwks_url, tuple(i.audiences), tuple(i.algorithms)) for i in config.issuers] or [
        (settings.token_issuer, settings.effective_jwks_url, (settings.token_audience,), ("ES256",))
    ]
    old = previous.verifier_keys if previous is not None else {}
    keys: dict[_VerifierKey, JWKSVerifier] = {}
    verifiers: dict[str, JWKSVerifier] = {}
    for key in issuers:
        verifier = old.get(key)
        if verifier is None:
            issuer, jwks_url, audiences, algorithms = key
            verifier = JWKSVerifier(
                jwks_url,
                issuer=issuer,
                audience=audiences[0],
                http=http,
                algorithms=algorithms,
                leeway=settings.token_leeway,
                min_refresh_interval=settings.jwks_refresh_interval,
                max_keys_age=settings.jwks_max_age,
                token_type=settings.token_type or None,
                # The gateway keeps its own verified-token cache in front (cleared on reload).
                cache_ttl=0,
            )
            # PyJWT accepts any of several audiences; JWKSVerifier passes the value through.
            verifier.audience = list(audiences)  # type: ignore[assignment]
        keys[key] = verifier
        verifiers[key[0]] = verifier
    paths = [base / d for u in config.upstreams for d in u.documents]
    return Runtime(config, routes, verifiers, keys, paths)


class ConfigReloader:
    """Reloads on SIGHUP, and when the config file or an OpenAPI document it names changes (polled).

    `apply` receives each new Runtime; a failed reload is logged at ERROR and changes nothing.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        http: httpx.AsyncClient,
        current: Callable[[], Runtime],
        apply: Callable[[Runtime], None],
    ) -> None:
        self.settings = settings
        self.http = http
        self.current = current
        self.apply = apply
        self.path = settings.config_path
        self._stamp = self._watched()
        self._task: asyncio.Task[None] | None = None
        self._signal = False

    def _stat(self) -> float | None:
        if self.path is None:
            return None
        try:
            return os.stat(self.path).st_mtime_ns / 1e9
        except OSError:
            return None

    def _watched(self) -> tuple[float | None, ...]:
        """Modification times of the config file and of every document the current runtime read."""
        stamps: list[float | None] = [self._stat()]
        for path in self.current().documents:
            try:
                stamps.append(os.stat(path).st_mtime_ns / 1e9)
            except OSError:
                stamps.append(None)
        return tuple(stamps)

    def reload(self) -> bool:
        """Load and apply the file now; False (and an ERROR log) if it is invalid."""
        try:
            config = load_config(self.path)
            runtime = build_runtime(config, self.settings, self.http, self.current())
        except ConfigError as exc:
            log.error("gateway config reload refused; the previous configuration stays in force: %s", exc)
            return False
        self.apply(runtime)
        log.info("gateway config reloaded", extra={"path": self.path or "(embedded)"})
        return True

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):
            # Only the main thread may install signal handlers (tests serve apps in threads).
            loop.add_signal_handler(signal.SIGHUP, self.reload)
            self._signal = True
        if self.settings.config_watch_interval > 0:
            self._task = loop.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.config_watch_interval)
            stamp = self._watched()
            if stamp != self._stamp:
                self.reload()
                # After the reload: the new runtime may read other documents.
                self._stamp = self._watched()

    async def stop(self) -> None:
        if self._signal:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
