"""The booked-order feed, killed with SIGKILL mid-batch in a child process, neither loses nor repeats.

The poller runs as a real child process against the running sandbox and the session's Redis; 500
orders are approved through the sandbox's admin API, and the child is killed while it publishes
them, then restarted. Every booked order must be on the stream exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from contracts import CloudEvent
from servicekit import RedisClient
from system_apis.erp.feed import ERP_STREAM, PUBLISHED_KEY, WATERMARK_KEY
from tests.system_apis.erp.conftest import admin, arm

ROOT = Path(__file__).resolve().parents[3]
ORDERS = 500
PAGE = 20


async def _approved_batch(sandbox: str, count: int = ORDERS) -> tuple[list[str], datetime]:
    """`count` new orders, approved one by one through the admin API; and a time before the approvals."""
    ids: list[str] = (await admin(sandbox, "POST", "/sales-orders/generate", json={"count": count})).json()["ids"]
    since = datetime.now(UTC) - timedelta(milliseconds=10)
    async with httpx.AsyncClient(base_url=sandbox) as client:
        for order_id in ids:
            (await client.post(f"/__admin/sales-orders/{order_id}/approve")).raise_for_status()
    return ids, since


@contextmanager
def _poller(
    sandbox: str, redis_url: str, since: datetime, log: Path, crash_at: int = 0
) -> Iterator[subprocess.Popen[bytes]]:
    args = [sys.executable, "-m", "tests.system_apis.erp.feed_child", sandbox, redis_url, since.isoformat(), str(PAGE)]
    with log.open("ab") as err:
        child = subprocess.Popen([*args, str(crash_at)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)


async def _published(redis: RedisClient) -> int:
    length: int = await redis.xlen(ERP_STREAM)
    return length


async def _wait_for(redis: RedisClient, at_least: int, child: subprocess.Popen[bytes]) -> int:
    deadline = asyncio.get_running_loop().time() + 60
    while (count := await _published(redis)) < at_least:
        assert child.poll() is None or at_least == 0, f"poller exited early ({child.returncode})"
        assert asyncio.get_running_loop().time() < deadline, f"only {count} of {at_least} events published"
        await asyncio.sleep(0.005)
    return count


async def _subjects(redis: RedisClient) -> Counter[str]:
    entries: Any = await redis.xrange(ERP_STREAM)
    events = [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]
    return Counter(e.subject for e in events if e.subject)


async def test_sigkill_mid_batch_then_restart_publishes_each_booking_exactly_once(
    sandbox: str, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    ids, since = await _approved_batch(sandbox)
    arm(sandbox, "POST */suiteql", "latency", latency_ms=40, count=100_000)  # pages slow enough to land kills in
    log = tmp_path / "poller.log"
    seen_at_kill = []
    for threshold in (100, 300):  # kill twice, at different points of the batch
        with _poller(sandbox, redis_url, since, log) as child:
            await _wait_for(redis, threshold, child)
            os.kill(child.pid, signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
        seen_at_kill.append(await _published(redis))
    assert 0 < seen_at_kill[0] <= seen_at_kill[1] < ORDERS, seen_at_kill
    with _poller(sandbox, redis_url, since, log) as child:
        await _wait_for(redis, ORDERS, child)
        await asyncio.sleep(0.3)  # several more polls: nothing may be published twice
    subjects = await _subjects(redis)
    assert sorted(subjects) == sorted(ids), log.read_text()[-2000:]
    assert set(subjects.values()) == {1}


async def test_crash_after_queueing_events_before_the_watermark_commits_nothing_of_that_page(
    sandbox: str, redis: RedisClient, redis_url: str, tmp_path: Path
) -> None:
    ids, since = await _approved_batch(sandbox, 100)
    log = tmp_path / "poller.log"
    with _poller(sandbox, redis_url, since, log, crash_at=3) as child:
        assert child.wait(60) == -signal.SIGKILL  # killed itself building page 3's transaction
    # Pages 1 and 2 committed (a page re-reads rows sharing the watermark's timestamp, so it may
    # announce fewer than PAGE), page 3 not at all: the watermark is at the last event published,
    # and the announced-ids set holds exactly the published orders.
    published = await _published(redis)
    assert PAGE <= published < 2 * PAGE + 1
    last = await _subjects(redis)
    assert await redis.scard(PUBLISHED_KEY) == published == len(last)
    watermark: Any = await redis.get(WATERMARK_KEY)
    entries: Any = await redis.xrevrange(ERP_STREAM, count=1)
    newest = msgspec.json.decode(entries[0][1][b"event"], type=CloudEvent)
    assert watermark.decode().endswith(f"|{newest.subject}")
    with _poller(sandbox, redis_url, since, log) as child:
        await _wait_for(redis, 100, child)
        await asyncio.sleep(0.2)
    subjects = await _subjects(redis)
    assert sorted(subjects) == sorted(ids)
    assert set(subjects.values()) == {1}
    assert await redis.scard(PUBLISHED_KEY) == 100
