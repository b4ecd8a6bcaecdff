"""The dev IdP's Redis state (throttle, codes, refresh families) holds on a real Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from deploy.rediscluster import redis_cluster
from gateway.idp.sessions import AuthRequest, CodeGrant, PersonGrant, SessionStore
from gateway.idp.throttle import FailureThrottle
from servicekit import connect_redis
from servicekit.redis import RedisClient


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(Path(tmp_path_factory.mktemp("idp-cluster"))) as nodes:
        yield nodes.url


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[RedisClient]:
    client = connect_redis(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.flushall()
    yield client
    await client.aclose()


async def test_failed_authentications_are_counted_and_checked_across_slots(cluster: RedisClient) -> None:
    throttle = FailureThrottle(cluster, subject_limit=2, address_limit=10, window=60)
    assert await throttle.retry_after("client", "demo", "10.0.0.1") is None
    await throttle.failed("client", "demo", "10.0.0.1")
    await throttle.failed("client", "demo", "10.0.0.2")
    wait = await throttle.retry_after("client", "demo", "10.0.0.3")
    assert wait is not None
    assert 0 < wait <= 60
    assert await throttle.retry_after("client", "other", "10.0.0.1") is None


async def test_codes_and_refresh_families_work_on_the_cluster(cluster: RedisClient) -> None:
    store = SessionStore(cluster, login_ttl=60, code_ttl=60, refresh_ttl=60)
    login = await store.begin_login(
        AuthRequest(
            client_id="fig-console",
            redirect_uri="http://127.0.0.1:5173/callback",
            scope=["openid"],
            state=None,
            nonce=None,
            code_challenge="c" * 43,
            csrf_hash="h",
        )
    )
    assert (await store.pending_login(login)) is not None
    assert await store.end_login(login)
    grant = PersonGrant(username="ana.de", client_id="fig-console", scope=["openid"], auth_time=1)
    code = await store.issue_code(CodeGrant(grant=grant, redirect_uri="r", code_challenge="c" * 43, nonce=None))
    assert (await store.redeem_code(code)) is not None
    assert (await store.redeem_code(code)) is None
    family, first = await store.start_family(grant)
    rotated = await store.rotate(first)
    assert rotated is not None
    assert rotated[0] == family
    assert await store.rotate(first) is None  # a replay revokes the family ...
    assert await store.rotate(rotated[2]) is None  # ... including its newest token
