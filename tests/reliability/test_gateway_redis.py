"""The gateway while its Redis dies and comes back: told to retry, and a retry then runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from servicekit import EmbeddedRedis
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.ledger import write_ledger
from tests.gateway.processes import gateway_process
from tests.reliability.test_redis_down import own_redis

__all__ = ["own_redis"]

JOURNALS = "/v3/ledger/journals"
JOURNAL = {"legal_entity": "DE01", "amount": "120.00", "lines": [{"account": "4000"}]}


def _headers(idp: RunningIdp, key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint('demo', ('ledger:read', 'ledger:write'))}", "Idempotency-Key": key}


async def _until(condition: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_key_whose_release_redis_missed_is_free_again_once_redis_is_back(
    tmp_path: Path, idp: RunningIdp, upstream: FakeUpstream, own_redis: EmbeddedRedis
) -> None:
    settings = {
        **write_ledger(tmp_path),
        "redis_url": own_redis.url,
        "idp_url": idp.url,
        "token_issuer": idp.issuer.issuer,
        "process_url": upstream.base,
        "client_secret": idp.credentials.client_secret("gateway"),
    }
    tag = uuid.uuid4().hex
    # The upstream takes a moment and then fails (503): the gateway must release the key after it.
    url = f"{JOURNALS}?tag={tag}&delay=1.0&status=503"
    key = f"start-{tag}"
    with gateway_process(settings) as (gateway, _):
        async with httpx.AsyncClient(base_url=gateway, timeout=30) as client:
            first = asyncio.create_task(client.post(url, json=JOURNAL, headers=_headers(idp, key)))
            await _until(lambda: upstream.hits[tag] == 1, within=10)
            own_redis.stop()  # while the upstream works: the release after its 503 finds Redis down
            assert (await first).status_code == 503

            # Down: told to come back later, with Retry-After, as problem+json. By the time it
            # comes, the release sent before it has failed too (the same Redis client's reconnects).
            refused = await client.post(url, json=JOURNAL, headers=_headers(idp, f"other-{tag}"))
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].rsplit("/", 1)[-1] in ("idempotency-unavailable", "rate-limit-unavailable")
            assert int(refused.headers["retry-after"]) >= 1

            own_redis.start()  # same port, same data: the claim of `key` is still there
            # The retry with the same key reaches the upstream again (well before the claim's 60 s
            # lock would have run out), instead of being held off as "still in flight".
            answers: list[tuple[int, str]] = []
            deadline = time.monotonic() + 15
            while upstream.hits[tag] < 2 and time.monotonic() < deadline:
                answer = await client.post(url, json=JOURNAL, headers=_headers(idp, key))
                answers.append((answer.status_code, answer.text[:120]))
                if upstream.hits[tag] < 2:
                    await asyncio.sleep(0.25)
    assert upstream.hits[tag] == 2, answers
