"""A real Redis Cluster on loopback (primaries, each with replicas), for tests that must hold on it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servicekit.redis import EmbeddedRedis, find_redis_server, free_port

__all__ = ["RedisClusterNodes", "redis_cluster", "stack_redis_url"]


def _cluster_port(taken: set[int]) -> int:
    # The cluster bus listens on port + 10000, so the port must stay below 55536.
    for _ in range(200):
        port = free_port()
        if port < 55000 and port not in taken and _bindable(port + 10000):
            taken.add(port)
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
            "5000",
        ]


def _redis_cli() -> str:
    beside = Path(find_redis_server()).with_name("redis-cli")
    found = str(beside) if beside.exists() else shutil.which("redis-cli")
    if not found:
        raise FileNotFoundError("redis-cli not found beside redis-server nor on PATH")
    return found


def _alive(node: EmbeddedRedis) -> bool:
    return node.process is not None and node.process.poll() is None


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        [_redis_cli(), "-p", str(port), *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout


class RedisClusterNodes:
    """The running nodes of a test cluster: its URL, and the primaries to kill in failover tests."""

    def __init__(self, nodes: list[_ClusterNode]) -> None:
        self.nodes = nodes

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0?cluster=true"

    def primaries(self) -> list[EmbeddedRedis]:
        """The nodes that are primaries now (after a failover, a former replica among them)."""
        roles = {n.port: _cli(n.port, "role").split("\n", 1)[0] for n in self.nodes if _alive(n)}
        return [n for n in self.nodes if roles.get(n.port) == "master"]

    def flushall(self) -> None:
        """Empty every primary (and so the whole cluster's keyspace)."""
        for node in self.primaries():
            _cli(node.port, "flushall")

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every live node says `cluster_state:ok` and every slot is served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = [n for n in self.nodes if _alive(n)]
            if live and all("cluster_state:ok" in _cli(n.port, "cluster", "info") for n in live):
                return
            time.sleep(0.1)
        raise TimeoutError("the Redis Cluster did not reach cluster_state:ok")


@contextmanager
def redis_cluster(base: Path, primaries: int = 3, replicas: int = 0) -> Iterator[RedisClusterNodes]:
    """Start `primaries` nodes with `replicas` replicas each, join them; stop them all after."""
    taken: set[int] = set()
    nodes = [_ClusterNode(base / f"node{n}", port=_cluster_port(taken)) for n in range(primaries * (1 + replicas))]
    cluster = RedisClusterNodes(nodes)
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
                str(replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        cluster.wait_ok()
        yield cluster
    finally:
        for node in nodes:
            node.stop()


def stack_redis_url(server: EmbeddedRedis | RedisClusterNodes) -> str | None:
    """The Redis for a test's stack: the session's cluster, emptied, when the suite runs on one;
    otherwise None, and the stack starts its own redis-server."""
    if isinstance(server, RedisClusterNodes):
        server.flushall()
        return server.url
    return None
