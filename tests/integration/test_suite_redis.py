"""The suite's Redis is the one `FIG_TEST_REDIS` asks for, so `fig check`'s cluster step really runs on a cluster."""

from __future__ import annotations

import os

from redis.asyncio.cluster import RedisCluster

from servicekit.redis import RedisClient


async def test_the_session_redis_is_a_cluster_exactly_when_asked(redis: RedisClient) -> None:
    assert isinstance(redis, RedisCluster) is (os.environ.get("FIG_TEST_REDIS") == "cluster")
    if isinstance(redis, RedisCluster):
        assert len(redis.get_primaries()) == 3
