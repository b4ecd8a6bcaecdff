"""A change to an opportunity already published as approved is published as an amendment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec

from contracts import OPPORTUNITY_AMENDED, OPPORTUNITY_APPROVED, CloudEvent
from contracts.streams import CRM_EVENTS
from servicekit.redis import RedisClient
from system_apis.crm.connector import CrmReader
from system_apis.crm.feed import PUBLISHED_KEY, WATERMARK_KEY, OpportunityFeed
from tests.system_apis.crm.support import SandboxAdmin, sf_update

DEMO1 = "0068d00000DEMO1AAA"


async def _events(redis: RedisClient) -> list[CloudEvent]:
    entries: Any = await redis.xrange(CRM_EVENTS)
    return [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]


def _set_amount(base: str, bearer: dict[str, str], amount: str, **fields: str) -> None:
    """PATCH Amount as a JSON number written from its decimal text (never through a float)."""
    extra = "".join(f', "{name}": "{value}"' for name, value in fields.items())
    body = f'{{"Amount": {amount}{extra}}}'.encode()
    url = f"{base}/services/data/v62.0/sobjects/Opportunity/{DEMO1}"
    response = httpx.patch(url, headers={**bearer, "Content-Type": "application/json"}, content=body)
    assert response.status_code == 204, response.text


def _feed(reader: CrmReader, redis: RedisClient) -> OpportunityFeed:
    return OpportunityFeed(reader, redis, start=datetime.now(UTC) - timedelta(seconds=1), stream=CRM_EVENTS)


async def test_an_amount_raised_after_approval_is_published_as_an_amendment(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin, sandbox: str, bearer: dict[str, str]
) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    assert await feed.poll_once() == 1
    _set_amount(sandbox, bearer, "20000.00")
    assert await feed.poll_once() == 1
    approved, amended = await _events(redis)
    assert approved.type == OPPORTUNITY_APPROVED
    assert (amended.type, amended.subject, amended.legalentity) == (OPPORTUNITY_AMENDED, DEMO1, "DE01")
    assert amended.data["amount"] == {"amount": "20000.00", "currency": "EUR"}
    assert amended.data["changed"] == ["amount"]
    assert amended.data["previous"] == {"amount": "14400.00"}
    assert amended.data["account"]["id"] == amended.data["account_id"]  # read in the same query
    assert amended.id != approved.id
    # What was published is remembered with the watermark: the next amendment is against 20,000.
    assert (await feed.watermark()).record_id == DEMO1
    _set_amount(sandbox, bearer, "21000.00", CloseDate="2026-12-15")
    assert await feed.poll_once() == 1
    latest = (await _events(redis))[-1]
    assert latest.data["changed"] == ["amount", "close_date"]
    assert latest.data["previous"] == {"amount": "20000.00", "close_date": "2026-11-30"}


async def test_a_change_outside_the_terms_publishes_nothing(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin, sandbox: str, bearer: dict[str, str]
) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    await feed.poll_once()
    sf_update(sandbox, bearer, "Opportunity", DEMO1, {"Name": "Rheinwerk - Platform Expansion (renamed)"})
    assert await feed.poll_once() == 0
    assert [e.type for e in await _events(redis)] == [OPPORTUNITY_APPROVED]
    assert (await feed.watermark()).record_id == DEMO1  # the watermark moved past the change


async def test_a_deal_lost_after_approval_is_an_amendment_leaving_closed_won(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin, sandbox: str, bearer: dict[str, str]
) -> None:
    feed = _feed(reader, redis)
    admin.close_won(DEMO1)
    await feed.poll_once()
    sf_update(sandbox, bearer, "Opportunity", DEMO1, {"StageName": "Closed Lost"})
    assert await feed.poll_once() == 1
    amended = (await _events(redis))[-1]
    assert amended.type == OPPORTUNITY_AMENDED
    assert amended.data["changed"] == ["stage"]
    assert amended.data["previous"] == {"stage": "Closed Won"}
    assert (amended.data["is_won"], amended.data["is_closed"]) == (False, True)
    # Re-opened from lost: again an amendment of the same deal.
    sf_update(sandbox, bearer, "Opportunity", DEMO1, {"StageName": "Negotiation/Review"})
    assert await feed.poll_once() == 1
    reopened = (await _events(redis))[-1]
    assert (reopened.data["changed"], reopened.data["is_closed"]) == (["stage"], False)


async def test_a_deal_never_published_is_not_amended_when_it_is_lost(
    reader: CrmReader, redis: RedisClient, sandbox: str, bearer: dict[str, str]
) -> None:
    feed = _feed(reader, redis)
    sf_update(sandbox, bearer, "Opportunity", DEMO1, {"StageName": "Closed Lost"})
    assert await feed.poll_once() == 0
    assert await redis.xlen(CRM_EVENTS) == 0
    assert await redis.hlen(PUBLISHED_KEY) == 0
    assert await redis.get(WATERMARK_KEY) is not None


async def test_a_round_overtaken_by_another_poller_remembers_nothing_of_its_own(
    reader: CrmReader, redis: RedisClient, admin: SandboxAdmin, sandbox: str, bearer: dict[str, str]
) -> None:
    """The terms are written with the watermark: an aborted round leaves the other poller's terms."""
    first = _feed(reader, redis)
    admin.close_won(DEMO1)
    await first.poll_once()
    _set_amount(sandbox, bearer, "20000.00")
    other = _feed(reader, redis)

    class Overtaken(OpportunityFeed):
        async def changes(self, after: Any, limit: int) -> Any:
            found = await super().changes(after, limit)
            _set_amount(sandbox, bearer, "25000.00")
            assert await other.poll_once() == 1  # commits the 25,000 change before this round does
            return found

    slow = Overtaken(reader, redis, start=datetime.now(UTC) - timedelta(seconds=5), stream=CRM_EVENTS)
    assert await slow.poll_once() == 0
    terms = msgspec.json.decode(await redis.hget(PUBLISHED_KEY, DEMO1) or b"{}")
    assert terms["amount"] == "25000.00"
    [amended] = [e for e in await _events(redis) if e.type == OPPORTUNITY_AMENDED]
    assert amended.data["previous"] == {"amount": "14400.00"}
