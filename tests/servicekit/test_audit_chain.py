"""The audit hash chain: appended in real Redis, verified, and every kind of tampering named."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import pytest

from servicekit.audit_chain import GENESIS, AuditRecord, entry_hash, verify_entries
from servicekit.audit_store import AuditStore, head_key, log_key
from servicekit.redis import RedisClient, connect_redis


def record(n: int, entity: str | None = "DE01") -> AuditRecord:
    return AuditRecord(
        time=f"2026-11-03T10:00:{n % 60:02d}.000+00:00",
        actor=f"person-{n}",
        client="demo",
        action="exception.resolved",
        resource=f"q2c-{n}:1",
        legal_entity=entity,
        correlation_id=f"cid-{n}",
        outcome="done",
        detail={"note": f"fixed {n}"},
    )


async def stored(redis: RedisClient, chain: str = "DE01") -> list[dict[str, Any]]:
    store = AuditStore(redis)
    return [json.loads(data) async for _, data in store.raw(chain)]


async def test_appended_entries_form_a_verifiable_chain(redis: RedisClient) -> None:
    store = AuditStore(redis)
    for n in range(5):
        await store.append(record(n))
    await store.append(record(9, entity=None))
    entries = await stored(redis)
    assert [e["seq"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev"] == GENESIS
    assert all(later["prev"] == earlier["hash"] for earlier, later in itertools.pairwise(entries))
    assert verify_entries(entries) is None
    assert await store.head("DE01") == (5, entries[-1]["hash"])
    assert [e["actor"] for e in await stored(redis, "GLOBAL")] == ["person-9"]
    assert await store.chains() == ["DE01", "GLOBAL"]


async def test_an_altered_entry_is_named(redis: RedisClient) -> None:
    store = AuditStore(redis)
    for n in range(4):
        await store.append(record(n))
    entries = await stored(redis)
    entries[2]["outcome"] = "refused"
    broken = verify_entries(entries)
    assert broken is not None
    assert (broken.position, broken.seq) == (3, 3)
    assert "altered" in broken.reason


async def test_a_removed_entry_is_named(redis: RedisClient) -> None:
    store = AuditStore(redis)
    for n in range(4):
        await store.append(record(n))
    entries = await stored(redis)
    del entries[1]
    broken = verify_entries(entries)
    assert broken is not None
    assert (broken.position, broken.seq) == (2, 3)
    assert "removed or reordered" in broken.reason


async def test_two_swapped_entries_are_named(redis: RedisClient) -> None:
    store = AuditStore(redis)
    for n in range(4):
        await store.append(record(n))
    entries = await stored(redis)
    entries[1], entries[2] = entries[2], entries[1]
    broken = verify_entries(entries)
    assert broken is not None
    assert (broken.position, broken.seq) == (2, 3)


async def test_a_sub_range_verifies_from_its_own_first_entry(redis: RedisClient) -> None:
    store = AuditStore(redis)
    for n in range(6):
        await store.append(record(n))
    entries = (await stored(redis))[2:5]
    assert verify_entries(entries) is not None  # not the chain's start
    assert verify_entries(entries, anchored=False) is None
    entries[2]["actor"] = "someone-else"
    broken = verify_entries(entries, anchored=False)
    assert broken is not None
    assert broken.seq == 5


async def test_concurrent_appenders_in_several_clients_make_one_chain(redis_url: str, redis: RedisClient) -> None:
    # Four "processes" (own client, own cached head), each with several concurrent appends.
    clients = [connect_redis(redis_url) for _ in range(4)]
    try:
        stores = [AuditStore(client) for client in clients]
        await asyncio.gather(*(stores[i % 4].append(record(i)) for i in range(120)))
    finally:
        for client in clients:
            await client.aclose()
    entries = await stored(redis)
    assert len(entries) == 120
    assert verify_entries(entries) is None
    assert sorted(e["correlation_id"] for e in entries) == sorted(f"cid-{i}" for i in range(120))
    assert await redis.xlen(log_key("DE01")) == 120
    assert await redis.get(head_key("DE01")) == f"120:{entries[-1]['hash']}".encode()


@pytest.mark.parametrize("field", ["hash", "prev", "seq"])
async def test_a_missing_field_is_not_an_entry(redis: RedisClient, field: str) -> None:
    store = AuditStore(redis)
    await store.append(record(1))
    entries = await stored(redis)
    del entries[0][field]
    broken = verify_entries(entries)
    assert broken is not None
    assert "not an audit entry" in broken.reason


async def test_a_range_claiming_to_start_the_chain_must_follow_genesis(redis: RedisClient) -> None:
    store = AuditStore(redis)
    await store.append(record(1))
    entries = await stored(redis)
    forged = {**entries[0], "prev": "f" * 64}
    forged["hash"] = entry_hash(forged)
    broken = verify_entries([forged], anchored=False)
    assert broken is not None
    assert "genesis" in broken.reason
