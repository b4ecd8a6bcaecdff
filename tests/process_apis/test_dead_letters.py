"""`/v1/dead-letters`: the events consumer groups gave up on, with reason and attempts, entity-scoped and replayable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import msgspec

from contracts import PERIOD_CLOSED, AccountingPeriod, CloudEvent, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, StreamConsumer, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.support import process_api, settings_for, until
from tests.tokens import TestIssuer

DEAD = f"{ERP_EVENTS}:dead"


def _bearer(issuer: TestIssuer, scopes: list[str], entities: list[str], subject: str) -> dict[str, str]:
    token = issuer.mint(scopes, subject=subject, legal_entities=entities, client_id="ops-portal")
    return {"Authorization": f"Bearer {token}"}


def _closed(entity: str, subsidiary: str) -> CloudEvent:
    period = AccountingPeriod(
        legal_entity=entity, subsidiary_id=subsidiary, period="2026-10", status="closed",
        closed_at=datetime(2026, 11, 5, tzinfo=UTC),
    )  # fmt: skip
    return new_event(
        source="/system/erp", type=PERIOD_CLOSED, data=msgspec.to_builtins(period),
        legal_entity=entity, event_id=f"evt-close-{entity}",
    )  # fmt: skip


async def _dead_letter_everything(redis: RedisClient) -> None:
    """A consumer group whose handler always fails gives up on every entry of the ERP stream."""

    async def refuses(event: CloudEvent) -> None:
        raise RuntimeError(f"cannot handle {event.id}")

    consumer = StreamConsumer(redis, ERP_EVENTS, "test-refuser", "c", refuses, block_ms=20, claim_idle_ms=0,
                              max_deliveries=1)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))

    async def all_dead() -> bool:
        return int(await redis.xlen(DEAD)) == 3

    await until(all_dead)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_dead_letters_are_listed_by_entity_and_replayed_once_with_an_audit_record(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    publisher = StreamPublisher(redis, ERP_EVENTS)
    await publisher.publish(_closed("DE01", "2"))
    await publisher.publish(_closed("US01", "1"))
    await redis.xadd(ERP_EVENTS, {"event": b"{not json"})
    await _dead_letter_everything(redis)

    issuer = TestIssuer(audience="fig-process")
    with issuer.serve() as jwks_base:
        auth = {"auth_required": True, "jwks_url": f"{jwks_base}/.well-known/jwks.json", "token_issuer": issuer.issuer}
        de01 = _bearer(issuer, ["exceptions:read", "exceptions:write"], ["DE01"], "de-ops@example.com")
        everyone = _bearer(
            issuer, ["exceptions:read", "exceptions:write", "audit:read"], ["DE01", "GB01", "US01"], "lead@example.com"
        )
        reader = _bearer(issuer, ["exceptions:read"], ["DE01"], "reader@example.com")
        async with process_api(settings_for(systems, redis_url, workers=False, **auth)) as client:
            mine = (await client.get("/v1/dead-letters", headers=de01)).json()
            [letter] = mine["items"]
            assert (letter["stream"], letter["event_id"], letter["legal_entity"], letter["event_type"]) == (
                "erp",
                "evt-close-DE01",
                "DE01",
                PERIOD_CLOSED,
            )
            assert (letter["reason"], letter["attempts"], letter["group"]) == (
                "handler failed 1 times",
                2,
                "test-refuser",
            )
            assert letter["data"]["period"] == "2026-10"
            entries: Any = await redis.xrange(ERP_EVENTS)
            original = entries[0][0].decode()
            assert letter["entry_id"] == original

            every = (await client.get("/v1/dead-letters", params={"stream": "erp"}, headers=everyone)).json()["items"]
            # In the order the group gave up on them: the undecodable entry at once, the others after retries.
            assert [(x["legal_entity"], x["event_id"]) for x in every] == [
                (None, None),
                ("DE01", "evt-close-DE01"),
                ("US01", "evt-close-US01"),
            ]
            assert every[0]["payload"] == "{not json"
            assert every[0]["reason"].startswith("undecodable event")
            first = (await client.get("/v1/dead-letters", params={"limit": 1}, headers=everyone)).json()
            rest = (
                await client.get(
                    "/v1/dead-letters", params={"limit": 5, "cursor": first["next_cursor"]}, headers=everyone
                )
            ).json()
            assert [x["id"] for x in first["items"] + rest["items"]] == [x["id"] for x in every]
            assert (await client.get("/v1/dead-letters", params={"cursor": "!!"}, headers=everyone)).status_code == 400
            assert (await client.get("/v1/dead-letters", params={"stream": "x"}, headers=everyone)).status_code == 400
            assert (await client.get("/v1/dead-letters", params={"stream": "crm"}, headers=everyone)).json()[
                "items"
            ] == []

            us_letter = every[2]["id"]
            assert (await client.get(f"/v1/dead-letters/erp/{us_letter}", headers=de01)).status_code == 404
            refused = await client.post(f"/v1/dead-letters/erp/{us_letter}/replay", json={}, headers=de01)
            assert refused.status_code == 404
            read_only = await client.post(f"/v1/dead-letters/erp/{letter['id']}/replay", json={}, headers=reader)
            assert read_only.status_code == 403
            not_event = await client.post(f"/v1/dead-letters/erp/{every[0]['id']}/replay", json={}, headers=everyone)
            assert not_event.status_code == 409

            replayed = await client.post(
                f"/v1/dead-letters/erp/{letter['id']}/replay", json={"note": "period handler fixed"}, headers=de01
            )
            assert replayed.status_code == 202, replayed.text
            new_id = replayed.json()["replayed_as"]
            back: Any = await redis.xrange(ERP_EVENTS, new_id, new_id)
            [(_, fields)] = back
            assert msgspec.json.decode(fields[b"event"], type=CloudEvent).id == "evt-close-DE01"
            assert [
                x["event_id"] for x in (await client.get("/v1/dead-letters", headers=everyone)).json()["items"]
            ] == [None, "evt-close-US01"]
            again = await client.post(f"/v1/dead-letters/erp/{letter['id']}/replay", json={}, headers=de01)
            assert again.status_code == 404  # replayed once: it is no longer a dead letter

            audit: Any = (
                await client.get("/v1/audit", params={"action": "dead_letter.replayed"}, headers=everyone)
            ).json()
            [entry] = audit["items"]
            assert (entry["actor"], entry["legal_entity"], entry["resource"]) == (
                "de-ops@example.com",
                "DE01",
                f"erp/{letter['id']}",
            )
            assert entry["detail"]["replayed_as"] == new_id
