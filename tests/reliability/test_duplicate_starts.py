"""Twenty concurrent starts with one Idempotency-Key across two gateway processes: one effect."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from servicekit import RedisClient
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.ledger import write_ledger
from tests.gateway.processes import gateway_process

JOURNAL = {"legal_entity": "DE01", "amount": "120.00", "lines": [{"account": "4000"}]}


async def test_twenty_concurrent_duplicates_on_two_gateways_have_one_effect(
    tmp_path: Path, redis_url: str, redis: RedisClient, idp: RunningIdp, upstream: FakeUpstream
) -> None:
    settings = {
        **write_ledger(tmp_path),
        "redis_url": redis_url,
        "idp_url": idp.url,
        "token_issuer": idp.issuer.issuer,
        "process_url": upstream.base,
        "client_secret": idp.credentials.client_secret("gateway"),
    }
    tag = uuid.uuid4().hex
    headers = {
        "Authorization": f"Bearer {idp.mint('demo', ('ledger:read', 'ledger:write'))}",
        "Idempotency-Key": f"start-{tag}",
    }
    url = f"/v3/ledger/journals?tag={tag}&delay=0.3"
    with gateway_process(settings) as (first, _), gateway_process(settings) as (second, _):
        async with httpx.AsyncClient(timeout=10) as http:
            calls = [
                http.post(f"{base}{url}", json=JOURNAL, headers=headers) for _ in range(10) for base in (first, second)
            ]
            answers = await asyncio.gather(*calls)
            statuses = sorted(a.status_code for a in answers)
            # Every duplicate either got the one answer or was told the first is still in flight.
            assert set(statuses) <= {201, 409}, statuses
            assert statuses.count(201) >= 1
            later = [await http.post(f"{base}{url}", json=JOURNAL, headers=headers) for base in (first, second)]
    assert upstream.hits[tag] == 1
    assert [(a.status_code, a.headers.get("idempotent-replayed")) for a in later] == [(201, "true")] * 2
