"""A feed killed (SIGKILL) while publishing neither loses nor repeats a change after it restarts.

First, deterministically: the feed's Redis connection dies right after the first write of a round
reached Redis (a connection class that refuses every command after that one, a public redis-py
seam), so a round whose events and watermark were two writes is caught every time.

The poller runs in a child process against a running sandbox and a real Redis; 500 opportunities
are close-won at once (many share one SystemModstamp, so the (modstamp, Id) keyset is exercised
too); the child is killed twice mid-batch, then restarted to finish. Every change must be in the
stream exactly once, and after each kill the watermark must name the last published change.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from contracts import OPPORTUNITY_APPROVED, CloudEvent
from contracts.streams import CRM_EVENTS
from servicekit.redis import RedisClient
from system_apis.crm.connector import CrmReader
from system_apis.crm.feed import WATERMARK_KEY, OpportunityFeed
from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from system_apis.crm.sandbox.seed import seed_tables
from tests.support import running_server
from tests.system_apis.crm.support import SandboxAdmin

ROOT = Path(__file__).resolve().parents[3]
#: A poll round commits its batch at once: 50 a round, so each kill lands between rounds mid-run.
SCALE, CHANGES, BATCH = 3, 500, 50


@pytest.fixture(scope="module")
def big_sandbox() -> Iterator[str]:
    with running_server(create_app(SalesforceSandboxSettings(scale=SCALE))) as base:
        yield base


def _start(sandbox: str, redis_url: str, since: datetime, log: Path) -> subprocess.Popen[bytes]:
    args = [sandbox, redis_url, since.isoformat(), str(BATCH)]
    with log.open("ab") as sink:  # a file, not a pipe: a chatty child must never block on a full pipe
        return subprocess.Popen(
            [sys.executable, "-m", "tests.system_apis.crm.feed_child", *args], cwd=ROOT, stdout=sink, stderr=sink
        )


def _tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def _events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange(CRM_EVENTS)
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


async def _run_until(child: subprocess.Popen[bytes], redis: RedisClient, count: int, log: Path) -> int:
    """Wait (up to a minute) until the stream holds `count` events; fails when the child dies first."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        length = await redis.xlen(CRM_EVENTS)
        if length >= count:
            return length
        if child.poll() is not None:
            raise AssertionError(f"feed child exited: {_tail(log)}")
        await asyncio.sleep(0.002)
    raise AssertionError(f"stream stuck below {count}")


async def _polls_more(child: subprocess.Popen[bytes], admin: SandboxAdmin, polls: int, log: Path) -> None:
    """Wait (up to a minute) until the child has queried Salesforce `polls` more times: a positive signal."""
    target = admin.api_calls() + polls
    deadline = time.monotonic() + 60
    while admin.api_calls() < target:
        if child.poll() is not None:
            raise AssertionError(f"feed child exited: {_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError("the feed child stopped polling")
        await asyncio.sleep(0.01)


def _kill(child: subprocess.Popen[bytes]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)


async def _assert_watermark_names_the_last_event(redis: RedisClient) -> None:
    last = (await _events(redis))[-1]
    raw = await redis.get(WATERMARK_KEY)
    watermark = raw.decode() if isinstance(raw, bytes) else str(raw)
    assert watermark.endswith("|" + (last.subject or "")), "stream and watermark disagree after the kill"


_WRITES = (b"XADD", b"SET", b"EXEC")


class _DiesAfterFirstWrite(Connection):
    """A connection of a process that dies right after its first write was acknowledged by Redis.

    The packet carrying the first write (a lone SET or XADD, or a whole MULTI ... EXEC) is sent and
    answered normally; every later command fails as if the process were gone.
    """

    wrote = False

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if type(self).wrote:
            raise RedisConnectionError("the poller died")
        packed = b"".join(command) if isinstance(command, list | tuple) else bytes(command)
        await super().send_packed_command(command, check_health)
        type(self).wrote = any(f"\r\n{w.decode()}\r\n".encode() in packed for w in _WRITES)


def _node_url(redis: RedisClient, redis_url: str) -> str:
    """The Redis that holds the feed's keys: on a cluster, the primary serving their slot (they share `{crm}`)."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(CRM_EVENTS)
        assert node is not None
        return f"redis://{node.host}:{node.port}/0"
    return redis_url


async def test_a_poller_dying_after_its_first_write_neither_loses_nor_repeats(
    reader: CrmReader, redis_url: str, redis: RedisClient, admin: SandboxAdmin
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    admin.close_won("0068d00000DEMO1AAA")
    _DiesAfterFirstWrite.wrote = False
    dying = Redis(
        connection_pool=ConnectionPool.from_url(_node_url(redis, redis_url), connection_class=_DiesAfterFirstWrite)
    )
    try:
        with contextlib.suppress(RedisConnectionError):  # a round of two writes dies inside itself
            await OpportunityFeed(reader, dying, start=start).poll_once()
        with pytest.raises(RedisConnectionError):
            await OpportunityFeed(reader, dying, start=start).poll_once()  # the next round finds it gone
    finally:
        await dying.aclose()
    assert _DiesAfterFirstWrite.wrote
    # Whatever the dead poller left, stream and watermark agree: a restarted one adds nothing.
    assert await OpportunityFeed(reader, redis, start=start).poll_once() == 0
    events = await _events(redis)
    assert [e.subject for e in events] == ["0068d00000DEMO1AAA"]
    await _assert_watermark_names_the_last_event(redis)


async def test_sigkill_mid_batch_neither_loses_nor_repeats(
    big_sandbox: str, redis_url: str, redis: RedisClient, tmp_path: Path
) -> None:
    log = tmp_path / "feed_child.log"
    admin = SandboxAdmin(big_sandbox)
    admin.reset()
    approved = sorted(seed_tables(scale=SCALE)["Opportunity"])[:CHANGES]
    since = datetime.now(UTC) - timedelta(seconds=1)
    assert admin.close_won_many(approved) == CHANGES

    kills: list[int] = []
    for threshold in (100, 320):
        child = _start(big_sandbox, redis_url, since, log)
        try:
            await _run_until(child, redis, threshold, log)
        finally:
            _kill(child)
        kills.append(await redis.xlen(CRM_EVENTS))
        await _assert_watermark_names_the_last_event(redis)
    assert 0 < kills[0] < kills[1] < CHANGES, f"a kill did not land mid-run: {kills}"

    child = _start(big_sandbox, redis_url, since, log)
    try:
        await _run_until(child, redis, CHANGES, log)
        await _polls_more(child, admin, 3, log)  # several more polls after the last change: nothing may follow
    finally:
        _kill(child)

    events = await _events(redis)
    by_id = Counter(e.id for e in events)
    assert [i for i, n in by_id.items() if n > 1] == []
    assert len(events) == CHANGES
    assert sorted(e.subject or "" for e in events) == approved
    assert {e.type for e in events} == {OPPORTUNITY_APPROVED}
