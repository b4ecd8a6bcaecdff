"""The local stack: an embedded (or external) Redis plus every service as its own OS process.

Processes start in their own session, so a terminal's Ctrl-C reaches only `fig`, which then stops
them in reverse order (SIGTERM, then SIGKILL after a grace period) and Redis last: no orphans.
`respawn` and `restart_redis` start a crashed process again in place (`deploy.supervisor` decides when).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType

import httpx

from deploy.services import BY_NAME, SERVICES, ServiceSpec, service_env, service_url
from deploy.tls import local_tls
from gateway.idp.devcredentials import DevCredentials, ensure_dev_credentials
from servicekit.http import trusting
from servicekit.redis import EmbeddedRedis

__all__ = ["ManagedProcess", "Stack", "StackError"]


class StackError(RuntimeError):
    """The stack could not start; the message says which process and shows its log tail."""


class ManagedProcess:
    def __init__(
        self, spec: ServiceSpec, port: int, popen: subprocess.Popen[bytes], log_path: Path, *, https: bool = False
    ) -> None:
        self.spec = spec
        self.port = port
        self.popen = popen
        self.log_path = log_path
        self.https = https

    @property
    def url(self) -> str:
        return service_url(self.spec.name, self.port, https=self.https)

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Stack:
    """Start with `start()`, stop with `stop()` (or use it as a context manager)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        ports: Mapping[str, int] | None = None,
        redis_url: str | None = None,
        fast: bool = True,
        extra_env: Mapping[str, str] | None = None,
        services: Iterable[ServiceSpec] = SERVICES,
        https: bool = False,
    ) -> None:
        """`https`: the sandboxes serve HTTPS with a certificate of the local CA (`<data_dir>/tls/`,
        created on first use), and the system APIs trust that CA (`ca_bundle`)."""
        self.data_dir = Path(data_dir).resolve()
        self.services = list(services)
        self.ports = {s.name: s.port for s in self.services} | dict(ports or {})
        self.redis_url = redis_url
        self.fast = fast
        self.extra_env = dict(extra_env or {})
        self.redis: EmbeddedRedis | None = None
        self.processes: list[ManagedProcess] = []
        #: The dev secrets, generated on the first run in `<data_dir>/credentials/` and reused after.
        self.credentials: DevCredentials = ensure_dev_credentials(
            self.data_dir / "credentials",
            origins={"console": service_url("console", self.ports["console"])} if "console" in self.ports else None,
        )
        self.tls = local_tls(self.data_dir / "tls") if https else None

    @property
    def ca_bundle(self) -> str | None:
        """The PEM file a client trusts to reach the sandboxes over HTTPS (None: they serve HTTP)."""
        return str(self.tls.ca_bundle) if self.tls is not None else None

    def url(self, name: str) -> str:
        return service_url(name, self.ports[name], https=self.tls is not None)

    def start(self, timeout: float = 60.0, on_ready: Callable[[ManagedProcess], None] | None = None) -> None:
        busy = [f"{n}:{p}" for n, p in self.ports.items() if not _port_free(p)]
        if busy:
            raise StackError(f"ports already in use: {', '.join(busy)} (is another stack running?)")
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.redis_url is None:
            self.redis = EmbeddedRedis(self.data_dir / "redis").start()
            self.redis_url = self.redis.url
        try:
            for spec in self.services:
                self._spawn(spec)
            self._wait_ready(timeout, on_ready)
        except BaseException:
            self.stop()
            raise

    def add_instance(self, name: str, port: int, label: str | None = None, timeout: float = 60.0) -> ManagedProcess:
        """Start one more process of service `name` on `port` (same Redis, same settings), wait until it
        is ready, and stop it with the stack: how tests and benchmarks scale a service out."""
        proc = self._spawn(BY_NAME[name], port=port, label=label)
        self._wait_ready(timeout, None, [proc])
        return proc

    def _spawn(self, spec: ServiceSpec, *, port: int | None = None, label: str | None = None) -> ManagedProcess:
        assert self.redis_url is not None
        env = {
            **os.environ,
            **service_env(
                spec.name,
                self.ports,
                self.redis_url,
                str(self.data_dir),
                fast=self.fast,
                credentials=self.credentials,
                tls=self.tls,
            ),
        }
        env.update(self.extra_env)
        if port is not None:
            env["FIG_PORT"] = str(port)
        log_path = self.data_dir / "logs" / f"{label or spec.name}.log"
        log = log_path.open("ab")
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "deploy", "serve", spec.name],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        proc = ManagedProcess(spec, port or self.ports[spec.name], popen, log_path, https=self.tls is not None)
        self.processes.append(proc)
        return proc

    def _wait_ready(
        self,
        timeout: float,
        on_ready: Callable[[ManagedProcess], None] | None,
        procs: Iterable[ManagedProcess] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.processes if procs is None else procs)
        last_error: dict[str, str] = {}
        with httpx.Client(timeout=2.0, verify=trusting(self.ca_bundle) or True) as client:
            while pending:
                for proc in list(pending):
                    if proc.popen.poll() is not None:
                        raise StackError(
                            f"{proc.spec.name} exited with code {proc.popen.returncode} during start-up; "
                            f"log {proc.log_path}:\n{proc.log_tail()}"
                        )
                    try:
                        response = client.get(proc.url + "/health/ready")
                    except httpx.HTTPError as exc:
                        last_error[proc.spec.name] = str(exc)
                        continue
                    if response.status_code == 200:
                        pending.remove(proc)
                        if on_ready is not None:
                            on_ready(proc)
                    else:
                        last_error[proc.spec.name] = response.text[:300]
                if pending and time.monotonic() > deadline:
                    names = ", ".join(f"{p.spec.name} ({last_error.get(p.spec.name, 'no answer')})" for p in pending)
                    raise StackError(f"not ready after {timeout:.0f}s: {names}")
                if pending:
                    time.sleep(0.2)

    def respawn(self, proc: ManagedProcess) -> ManagedProcess:
        """Start a dead process's service again on its port, with its log, in its place in `processes`.

        Its process group is killed first: a server whose main process was killed can leave workers
        behind that still hold the port.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.popen.pid, signal.SIGKILL)
        new = self._spawn(proc.spec, port=proc.port, label=proc.log_path.stem)
        self.processes.remove(new)
        self.processes[self.processes.index(proc)] = new
        return new

    def restart_redis(self) -> EmbeddedRedis:
        """Start the embedded Redis again on its port and data directory (its append-only file is replayed)."""
        old = self.redis
        if old is None:
            raise StackError("this stack uses an external Redis; it is not restarted here")
        old.stop()
        self.redis = EmbeddedRedis(old.data_dir, port=old.port, fsync=old.fsync).start()
        return self.redis

    def log_event(self, message: str) -> None:
        """Append a line to the stack's own log (`logs/supervisor.log`)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        with contextlib.suppress(OSError), (self.data_dir / "logs" / "supervisor.log").open("a") as out:
            out.write(f"{stamp} {message}\n")

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes if p.popen.poll() is not None]

    def stop(self, grace: float = 10.0) -> None:
        for proc in reversed(self.processes):
            proc.stop(grace)
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()
            self.redis = None

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
