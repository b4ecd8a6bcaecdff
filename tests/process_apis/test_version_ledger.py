"""The planning versions ledger on a real Redis: each publication is recorded once, however many see it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from contracts import ForecastVersion
from process_apis.versions import PublishedVersions
from servicekit import RedisClient
from servicekit.audit_chain import GLOBAL_CHAIN
from servicekit.audit_store import AuditStore

FORECAST = ForecastVersion(id="107000000004", name="Forecast FY27", published=False, kind="forecast")
PUBLISHED = ForecastVersion(id="107000000004", name="Forecast FY27", published=True, kind="forecast")


async def _actions(redis: RedisClient) -> list[tuple[str, str]]:
    return [(e.action, e.actor) async for _, e in AuditStore(redis).entries(GLOBAL_CHAIN)]


async def test_instances_seeing_the_same_publication_record_it_once(redis: RedisClient) -> None:
    moments = iter(datetime(2026, 12, 5, 18, minute, tzinfo=UTC) for minute in range(60))
    ledgers = [PublishedVersions(redis, AuditStore(redis), lambda: next(moments)) for _ in range(3)]
    await ledgers[0].observe([FORECAST], observer="a")
    assert await _actions(redis) == []  # a draft seen for the first time is no publication

    recorded = await asyncio.gather(
        *(ledger.observe([PUBLISHED], observer=f"i{n}") for n, ledger in enumerate(ledgers))
    )
    assert sum(len(r) for r in recorded) == 1
    [(action, _)] = await _actions(redis)
    assert action == "planning.version.published"
    [seen] = await ledgers[1].all()
    assert seen.published
    assert seen.published_since is not None

    await ledgers[2].observe([PUBLISHED], observer="again")  # nothing changed: nothing recorded
    await ledgers[2].observe([FORECAST], observer="withdrawn")
    assert [a for a, _ in await _actions(redis)] == ["planning.version.published", "planning.version.unpublished"]
    [seen] = await ledgers[0].all()
    assert (seen.published, seen.published_since) == (False, None)
