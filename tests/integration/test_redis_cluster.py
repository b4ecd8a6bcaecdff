"""The shared Redis mechanisms hold on a real Redis Cluster, where one transaction must stay in one slot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import ResponseError

from contracts import CloudEvent, new_event
from contracts.streams import ERP_EVENTS, stream_tag
from deploy.rediscluster import redis_cluster
from process_apis.workflows.store import Effect, RunStore, run_key
from servicekit import StreamConsumer, StreamPublisher, connect_redis
from servicekit.redis import RedisClient
from servicekit.streams import EVENT_FIELD, encode_event


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


async def test_an_effect_refused_on_its_node_stays_in_the_outbox_until_relayed(cluster: RedisClient) -> None:
    # A cluster pipeline runs each node's share on its own: the run's outbox must not be popped
    # when an effect failed on another node (here a key of the wrong type; in life, a failover).
    store = RunStore(cluster, lock_ttl=5.0)
    stream = "fig:test:{elsewhere}:events"
    assert key_slot(stream.encode()) != key_slot(run_key("q2c-X").encode())
    await cluster.set(stream, "not a stream")
    effect = Effect(kind="xadd", key=stream, event=new_event(source="t", type="t.v1", data={}, event_id="e1"))
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        async with store.lease("q2c-X") as lease:
            await store.write("q2c-X", lease, [], [effect])
    assert await cluster.llen("fig:q2c:{q2c-X}:outbox") == 1
    assert await cluster.get("fig:q2c:{q2c-X}:lock") is None  # released all the same
    await cluster.delete(stream)
    assert await store.relay("q2c-X") == 1
    assert await cluster.xlen(stream) == 1
    assert await cluster.llen("fig:q2c:{q2c-X}:outbox") == 0
