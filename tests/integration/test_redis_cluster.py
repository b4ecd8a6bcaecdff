"""The shared Redis mechanisms hold on a real Redis Cluster, where one transaction must stay in one slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from contracts import CloudEvent, new_event
from contracts.streams import ERP_EVENTS, stream_tag
from servicekit import StreamConsumer, StreamPublisher, connect_redis
from servicekit.redis import RedisClient
from servicekit.streams import EVENT_FIELD, encode_event
from tests.cluster import redis_cluster


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_cluster(Path(tmp_path_factory.mktemp("cluster"))) as nodes:
        yield nodes.url


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[RedisClient]:
    client = connect_redis(cluster_url)
    assert isinstance(client, RedisCluster)
    await client.flushall()
    yield client
    await client.aclose()


async def test_events_and_a_tagged_watermark_commit_in_one_transaction(cluster: RedisClient) -> None:
    watermark = f"fig:feed:{stream_tag(ERP_EVENTS)}:salesOrder"
    event = new_event(source="erp", type="erp.sales_order.booked.v1", data={"id": "1"}, event_id="e1")
    pipe = cluster.pipeline(transaction=True)
    pipe.xadd(ERP_EVENTS, {EVENT_FIELD: encode_event(event)})
    pipe.set(watermark, "2026-11-27T10:00:00Z|1")
    await pipe.execute()
    assert await cluster.xlen(ERP_EVENTS) == 1
    assert await cluster.get(watermark) == b"2026-11-27T10:00:00Z|1"


async def test_an_untagged_pair_is_refused_by_the_cluster(cluster: RedisClient) -> None:
    # The reason for the tags: without them the same transaction cannot run on a cluster.
    pipe = cluster.pipeline(transaction=True)
    pipe.xadd("fig:events:erp", {EVENT_FIELD: b"{}"})
    pipe.set("fig:feed:erp:salesOrder", "x")
    with pytest.raises(Exception, match=r"(?i)slot"):
        await pipe.execute()


async def test_consumer_groups_work_across_the_cluster(cluster: RedisClient) -> None:
    publisher = StreamPublisher(cluster, ERP_EVENTS)
    for n in range(3):
        await publisher.publish(new_event(source="t", type="t.v1", data={"n": n}, event_id=f"e{n}"))
    seen: list[CloudEvent] = []

    async def handle(event: CloudEvent) -> None:
        seen.append(event)

    stop = asyncio.Event()
    consumer = StreamConsumer(cluster, ERP_EVENTS, "g", "c", handle, block_ms=50)
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(100):
        if len(seen) == 3:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [e.id for e in seen] == ["e0", "e1", "e2"]
