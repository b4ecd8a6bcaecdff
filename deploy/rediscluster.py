"""A real Redis Cluster on loopback (primaries, each with replicas), from the same redis-server binary.

For the test suite (`FIG_TEST_REDIS=cluster`), the failover tests and `bench/workflows --redis cluster`:
the nodes are child processes with append-only persistence, joined by `redis-cli --cluster create`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from redis.cluster import RedisCluster as SyncRedisCluster

from servicekit.redis import EmbeddedRedis, find_redis_server, free_port

__all__ = ["RedisClusterNodes", "redis_cluster"]


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
    #: How long a primary may be unreachable before its replica takes over (redis' default: 15 s).
    node_timeout_ms = 5000

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            str(self.data_dir / "nodes.conf"),
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
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
    return subprocess.run(  # noqa: S603 - redis-cli found beside redis-server, fixed arguments
        [_redis_cli(), "-p", str(port), *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout


def _replication(port: int) -> dict[str, str]:
    return dict(line.split(":", 1) for line in _cli(port, "info", "replication").splitlines() if ":" in line)


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

    def primary_of(self, key: str) -> EmbeddedRedis:
        """The node that serves `key`'s slot now."""
        live = next(n for n in self.nodes if _alive(n))
        client = SyncRedisCluster(host="127.0.0.1", port=live.port)
        try:
            node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]  # unannotated in redis-py
        finally:
            client.close()
        assert node is not None
        return next(n for n in self.nodes if n.port == node.port)

    def replica_of(self, primary: EmbeddedRedis) -> EmbeddedRedis:
        """`primary`'s (first) replica."""
        replica = dict(part.split("=", 1) for part in _replication(primary.port)["slave0"].split(","))
        return next(n for n in self.nodes if n.port == int(replica["port"]))

    def replication_offset(self, node: EmbeddedRedis) -> int:
        """How many bytes of writes `node` has in its replication stream (as primary or replica)."""
        return int(_replication(node.port)["master_repl_offset"])

    def promoted_at(self, node: EmbeddedRedis) -> int:
        """The replication offset at which the replica `node` became primary (what it had then)."""
        return int(_replication(node.port)["second_repl_offset"]) - 1

    def drop_replicas(self, primary: EmbeddedRedis) -> None:
        """Close `primary`'s replication links: what it writes next reaches no replica until they reconnect."""
        _cli(primary.port, "client", "kill", "type", "replica")

    def signal(self, node: EmbeddedRedis, sig: signal.Signals) -> None:
        """Send `sig` to one node (SIGSTOP/SIGCONT: a replica that falls behind, then catches up)."""
        assert node.process is not None
        os.kill(node.process.pid, sig)

    def wait_promoted(self, key: str, former: EmbeddedRedis, timeout: float = 30.0) -> EmbeddedRedis:
        """Wait until another node serves `key`'s slot than `former` (its replica took over) and the
        cluster is ok again; the new primary."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.primary_of(key)
            if now.port != former.port:
                self.wait_ok(max(0.1, deadline - time.monotonic()))
                return now
            time.sleep(0.05)
        raise TimeoutError(f"no replica took over {key}'s slot")

    def kill(self, node: EmbeddedRedis) -> None:
        """SIGKILL one node (no shutdown, no final write): what a crashed machine looks like to the rest."""
        assert node.process is not None
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(10)

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
def redis_cluster(
    base: Path, primaries: int = 3, replicas: int = 0, node_timeout_ms: int = 5000
) -> Iterator[RedisClusterNodes]:
    """Start `primaries` nodes with `replicas` replicas each, join them; stop them all after."""
    taken: set[int] = set()
    nodes = [_ClusterNode(base / f"node{n}", port=_cluster_port(taken)) for n in range(primaries * (1 + replicas))]
    for node in nodes:
        node.node_timeout_ms = node_timeout_ms
    cluster = RedisClusterNodes(nodes)
    try:
        for node in nodes:
            node.start()
        subprocess.run(  # noqa: S603 - redis-cli found beside redis-server, fixed arguments
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
