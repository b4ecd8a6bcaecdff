"""While Redis is down every service answers 503 problem+json with Retry-After, and recovers with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from servicekit import EmbeddedRedis
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2
from tests.process_apis.support import RUNS, process_api, settings_for


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to stop and start again on the same port and data."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


async def test_the_process_api_answers_503_while_redis_is_down_and_recovers(
    systems: Systems, own_redis: EmbeddedRedis
) -> None:
    async with process_api(settings_for(systems, own_redis.url)) as client:
        assert (await client.get(f"{RUNS}/q2c-unknown")).status_code == 404
        own_redis.stop()
        for answer in (
            await client.get(f"{RUNS}/q2c-unknown"),
            await client.post(RUNS, json={"opportunity_id": DEMO2}),
        ):
            assert answer.status_code == 503, answer.text
            assert answer.headers["content-type"].startswith("application/problem+json")
            assert answer.json()["type"].endswith("/dependency-unavailable")
            assert int(answer.headers["retry-after"]) >= 1
        own_redis.start()
        started = await client.post(RUNS, json={"opportunity_id": DEMO2})
        assert started.status_code == 202, started.text
