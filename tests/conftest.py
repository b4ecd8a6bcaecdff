"""Session fixtures shared by every test: a real Redis server started for the session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from gateway.idp.devcredentials import DevCredentials, ensure_dev_credentials
from servicekit.redis import EmbeddedRedis, RedisClient, connect_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real redis-server (append-only) for the whole test session."""
    server = EmbeddedRedis(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    return redis_server.url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisClient]:
    """A client on a flushed database: each test starts from empty Redis."""
    client = connect_redis(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def dev_credentials(tmp_path_factory: pytest.TempPathFactory) -> DevCredentials:
    """Dev secrets and passwords generated for this test session (as `fig up` does on a first run)."""
    return ensure_dev_credentials(tmp_path_factory.mktemp("dev-credentials"))
