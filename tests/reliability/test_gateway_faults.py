"""The gateway with a fault proxy in front of its upstream: resets, throttling hints, outages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from servicekit import RedisClient
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.helpers import assert_problem
from tests.gateway.ledger import write_ledger
from tests.reliability.faultproxy import Answer, FaultProxy, Reset

ENTRIES = "/v3/ledger/entries?legal_entity=DE01"
JOURNALS = "/v3/ledger/journals"
JOURNAL = {"legal_entity": "DE01", "amount": "120.00", "lines": [{"account": "4000"}]}


@pytest.fixture
def proxy(upstream: FakeUpstream) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.base) as fault_proxy:
        yield fault_proxy


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    """The ledger contract, its upstream retrying twice and waiting out at most 1 s of Retry-After."""
    settings = write_ledger(tmp_path)
    config = Path(settings["config_path"])
    config.write_text(config.read_text().replace("retries = 0", "retries = 2\nmax_retry_after = 1.0"))
    return settings


@pytest.fixture
async def gateway(
    settings: dict[str, Any], make_gateway: Callable[..., Litestar], proxy: FaultProxy, redis: RedisClient
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A gateway whose upstream is reached through the proxy."""
    async with AsyncTestClient(make_gateway(**settings, process_url=proxy.url)) as client:
        yield client


def _auth(idp: RunningIdp, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint('demo', ('ledger:read', 'ledger:write'))}", **extra}


async def test_a_reset_read_is_retried_by_the_gateway(
    gateway: AsyncTestClient[Litestar], proxy: FaultProxy, idp: RunningIdp
) -> None:
    # Two resets: aiohttp itself tries once more on a reused connection that was reset.
    proxy.arm(Reset(), times=2, match="/entries")
    answer = await gateway.get(ENTRIES, headers=_auth(idp))
    assert answer.status_code == 200, answer.text
    assert [fault for _, _, fault in proxy.hits("/entries")] == ["Reset", "Reset", "pass"]


async def test_a_reset_post_is_not_repeated(
    gateway: AsyncTestClient[Litestar], proxy: FaultProxy, idp: RunningIdp
) -> None:
    proxy.arm(Reset(), times=None, match="/journals")
    answer = await gateway.post(JOURNALS, json=JOURNAL, headers=_auth(idp, **{"Idempotency-Key": str(time.time())}))
    assert_problem(answer, 502, "upstream-error", answer.headers["x-correlation-id"])
    # At most aiohttp's own single re-send on a reused connection, which the upstream never saw.
    assert all(fault == "Reset" for _, _, fault in proxy.hits("/journals"))


async def test_the_upstreams_retry_after_is_waited_out_or_passed_back(
    gateway: AsyncTestClient[Litestar], proxy: FaultProxy, idp: RunningIdp
) -> None:
    proxy.arm(Answer(503, {"Retry-After": "0.4"}), match="/entries")
    answer = await gateway.get(ENTRIES, headers=_auth(idp))
    assert answer.status_code == 200, answer.text
    first, second = (t for t, _, _ in proxy.hits("/entries"))
    assert second - first >= 0.4
    # Longer than the gateway may wait: the caller gets the 503 and its Retry-After, at once.
    proxy.arm(Answer(503, {"Retry-After": "30"}), times=None, match="/entries")
    busy = await gateway.get(ENTRIES, headers=_auth(idp))
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "30"
    assert len(proxy.hits("/entries")) == 3


async def test_a_429_passes_back_with_its_retry_after(
    gateway: AsyncTestClient[Litestar], proxy: FaultProxy, idp: RunningIdp
) -> None:
    proxy.arm(Answer(429, {"Retry-After": "7"}), match="/entries")
    throttled = await gateway.get(ENTRIES, headers=_auth(idp))
    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "7"
    assert len(proxy.hits("/entries")) == 1
