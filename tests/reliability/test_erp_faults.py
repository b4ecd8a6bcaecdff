"""The ERP system API with a fault proxy in front of the NetSuite sandbox: throttling, outages, resets."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from system_apis.erp import ErpSettings
from system_apis.erp import create_app as create_erp_app
from system_apis.erp.sandbox import SandboxSettings, create_app
from tests.reliability.faultproxy import Answer, BlackHole, Delay, FaultProxy, Reset
from tests.support import running_server
from tests.tokens import TestIssuer

CUSTOMER = "/customer/"


@pytest.fixture(scope="module")
def netsuite() -> Iterator[str]:
    with running_server(create_app(SandboxSettings(max_in_flight=50))) as base:
        yield base


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[TestIssuer, str]]:
    token_issuer = TestIssuer()
    with token_issuer.serve() as url:
        yield token_issuer, url


@pytest.fixture
def proxy(netsuite: str) -> Iterator[FaultProxy]:
    httpx.post(f"{netsuite}/__admin/reset").raise_for_status()
    with FaultProxy(netsuite) as fault_proxy:
        yield fault_proxy


@pytest.fixture
async def erp(proxy: FaultProxy, redis_url: str, issuer: tuple[TestIssuer, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    """The ERP system API reaching NetSuite through the proxy, with small timeouts and bounds."""
    token_issuer, idp_url = issuer
    settings = ErpSettings(
        redis_url=redis_url,
        sandbox_url=proxy.url,
        idp_url=idp_url,
        token_issuer=token_issuer.issuer,
        feed_interval=0,
        ns_timeout=0.3,
        ns_backoff=0.01,
        ns_max_backoff=0.05,
        ns_throttle_retries=2,
        ns_max_retry_after=1.0,
    )
    async with AsyncTestClient(create_erp_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {token_issuer.mint(['erp:read', 'erp:write'])}"
        yield client


def _gaps(proxy: FaultProxy) -> list[float]:
    times = [t for t, _, _ in proxy.hits(CUSTOMER)]
    return [b - a for a, b in itertools.pairwise(times)]


async def test_netsuite_throttling_is_waited_out_as_long_as_it_says(
    erp: AsyncTestClient[Any], proxy: FaultProxy
) -> None:
    proxy.arm(Answer(429, {"Retry-After": "0.5"}), match=CUSTOMER)
    answer = await erp.get("/v1/customers/1001")
    assert answer.status_code == 200, answer.text
    assert len(proxy.hits(CUSTOMER)) == 2
    assert _gaps(proxy)[0] >= 0.5


async def test_a_throttle_longer_than_the_bound_is_passed_up_without_more_calls(
    erp: AsyncTestClient[Any], proxy: FaultProxy
) -> None:
    proxy.arm(Answer(429, {"Retry-After": "30"}), times=None, match=CUSTOMER)
    answer = await erp.get("/v1/customers/1001")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith("/erp-throttled")
    assert answer.headers["retry-after"] == "30"
    assert len(proxy.hits(CUSTOMER)) == 1


async def test_a_netsuite_503_is_a_503_with_its_retry_after(erp: AsyncTestClient[Any], proxy: FaultProxy) -> None:
    proxy.arm(Answer(503, {"Retry-After": "20"}), times=None, match=CUSTOMER)
    answer = await erp.get("/v1/customers/1001")
    assert answer.status_code == 503, answer.text
    assert answer.json()["type"].endswith("/erp-unavailable")
    assert answer.headers["retry-after"] == "20"
    assert len(proxy.hits(CUSTOMER)) == 1
    # A short one is waited out inside the call.
    proxy.clear()
    proxy.arm(Answer(503, {"Retry-After": "0.3"}), match=CUSTOMER)
    assert (await erp.get("/v1/customers/1001")).status_code == 200
    assert _gaps(proxy)[-1] >= 0.3


async def test_a_reset_read_is_retried(erp: AsyncTestClient[Any], proxy: FaultProxy) -> None:
    # Two resets: aiohttp itself tries once more when a reused keep-alive connection was reset, so
    # one reset alone might never reach the retry rules.
    proxy.arm(Reset(), times=2, match=CUSTOMER)
    answer = await erp.get("/v1/customers/1001")
    assert answer.status_code == 200, answer.text
    assert [fault for _, _, fault in proxy.hits(CUSTOMER)] == ["Reset", "Reset", "pass"]


async def test_latency_beyond_the_timeout_is_retried_for_a_read(erp: AsyncTestClient[Any], proxy: FaultProxy) -> None:
    proxy.arm(Delay(1.0), match=CUSTOMER)
    answer = await erp.get("/v1/customers/1001")
    assert answer.status_code == 200, answer.text
    assert [fault for _, _, fault in proxy.hits(CUSTOMER)] == ["Delay", "pass"]


@pytest.mark.parametrize("fault", [Reset(), BlackHole()], ids=["reset", "black-hole"])
async def test_repeated_transport_failures_open_the_breaker_and_stop_calling_netsuite(
    erp: AsyncTestClient[Any], proxy: FaultProxy, fault: Reset | BlackHole
) -> None:
    proxy.arm(fault, times=None, match=CUSTOMER)
    # Each call tries three times (aiohttp may add one more try on a reused connection); the breaker
    # opens at the fifth consecutive failure.
    for _ in range(2):
        failed = await erp.get("/v1/customers/1001")
        assert failed.status_code == 503, failed.text
        assert int(failed.headers["retry-after"]) >= 1
    calls = len(proxy.hits(CUSTOMER))
    assert calls >= 5
    refused = await erp.get("/v1/customers/1001")
    assert refused.status_code == 503
    assert refused.json()["type"].endswith("/erp-unavailable")
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert len(proxy.hits(CUSTOMER)) == calls
