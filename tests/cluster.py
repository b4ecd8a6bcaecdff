"""A real three-primary Redis Cluster on loopback, for tests that must hold on Redis Cluster."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servicekit.redis import EmbeddedRedis, find_redis_server, free_port

__all__ = ["redis_cluster"]


def _cluster_port() -> int:
    # The cluster bus listens on port + 10000, so the port must stay below 55536.
    for _ in range(200):
        port = free_port()
        if port < 55000 and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port below 55000 for a cluster node")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _ClusterNode(EmbeddedRedis):
    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self.data_dir / "nodes.conf"),
            "--cluster-node-timeout",
            "2000",
        ]


def _redis_cli() -> str:
    beside = Path(find_redis_server()).with_name("redis-cli")
    found = str(beside) if beside.exists() else shutil.which("redis-cli")
    if not found:
        raise FileNotFoundError("redis-cli not found beside redis-server nor on PATH")
    return found


@contextmanager
def redis_cluster(base: Path, primaries: int = 3) -> Iterator[str]:
    """Start `primaries` cluster nodes, join them, yield a `?cluster=true` URL; stop them after."""
    nodes = [_ClusterNode(base / f"node{n}", port=_cluster_port()) for n in range(primaries)]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [
                _redis_cli(),
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in nodes],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for _ in range(100):
            info = subprocess.run(
                [_redis_cli(), "-p", str(nodes[0].port), "cluster", "info"], capture_output=True, text=True, check=True
            ).stdout
            if "cluster_state:ok" in info:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        yield f"redis://127.0.0.1:{nodes[0].port}/0?cluster=true"
    finally:
        for node in nodes:
            node.stop()
