"""Session fixtures shared by every test: a real Redis for the session.

`FIG_TEST_REDIS=cluster` runs the same tests against a real Redis Cluster (three primaries, one
replica each, on loopback), so every Redis-backed test also proves its path works on a cluster.
Tests that use the session's Redis are marked `redis`; `fig check` runs `-m redis` that way too.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from deploy.rediscluster import RedisClusterNodes, redis_cluster
from gateway.idp.devcredentials import DevCredentials, ensure_dev_credentials
from servicekit.redis import EmbeddedRedis, RedisClient, connect_redis

REDIS_MODE = os.environ.get("FIG_TEST_REDIS", "single")
if REDIS_MODE not in {"single", "cluster"}:
    raise pytest.UsageError(f"FIG_TEST_REDIS must be 'single' or 'cluster', not {REDIS_MODE!r}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `redis` every test that uses the session's Redis: `fig check` runs those again on a cluster."""
    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis | RedisClusterNodes]:
    """A real redis-server (append-only), or a real Redis Cluster, for the whole test session."""
    base = Path(tmp_path_factory.mktemp("redis"))
    if REDIS_MODE == "cluster":
        with redis_cluster(base, primaries=3, replicas=1) as cluster:
            yield cluster
        return
    server = EmbeddedRedis(base)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis | RedisClusterNodes) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    """A client on a flushed database: each test starts from empty Redis (every primary of a cluster)."""
    client = connect_redis(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory: pytest.TempPathFactory) -> DevCredentials:
    """Dev secrets and passwords generated for this test session (as `fig up` does on a first run)."""
    return ensure_dev_credentials(tmp_path_factory.mktemp("dev-credentials"))
