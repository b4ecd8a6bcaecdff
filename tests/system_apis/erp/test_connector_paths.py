"""Connector error and throttle paths over real HTTP, in the middle of multi-request operations."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from contracts import CustomerMasterChanges, Money
from system_apis.erp.connector import NetSuiteClient, ledger
from system_apis.erp.errors import ErpInvalidContent, ErpUpstreamError
from system_apis.erp.sandbox import SandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.erp.conftest import admin, arm, make_client, stats


@pytest.fixture(scope="module")
def short_lived_tokens() -> Iterator[str]:
    """A sandbox whose access tokens really die after 0.3 s (it still announces expires_in 3600)."""
    with running_server(create_app(SandboxSettings(token_ttl=0.3))) as base:
        yield base


async def test_a_token_that_expires_mid_run_is_replaced_once(short_lived_tokens: str) -> None:
    await admin(short_lived_tokens, "POST", "/reset")
    async with httpx.AsyncClient(base_url=short_lived_tokens) as http:
        client = make_client(short_lived_tokens, http, page_size=5)
        first = await ledger.actuals(client, "GB01", "2026-03")
        await asyncio.sleep(0.35)  # the cached token is now dead on the server
        again = await ledger.actuals(client, "GB01", "2026-03")
    assert again == first
    assert client.tokens.grants == 2


async def test_401_and_429_between_suiteql_pages_do_not_change_the_result(
    sandbox: str, netsuite: NetSuiteClient
) -> None:
    expected = await ledger.actuals(netsuite, "DE01", "2026-10")
    async with httpx.AsyncClient(base_url=sandbox) as http:
        client = make_client(sandbox, http, page_size=5)
        await client.tokens.token()
        # Governance drops page 2 with 429 twice, then the token dies before page 3.
        arm(sandbox, "POST */suiteql", "latency", count=3)  # period lookup, subsidiary, items pass untouched
        arm(sandbox, "POST */suiteql", "latency", count=1)  # page 1
        arm(sandbox, "POST */suiteql", "throttle", count=2)
        arm(sandbox, "POST */suiteql", "latency", count=1)  # page 2
        arm(sandbox, "POST */suiteql", "expired_token", count=1)
        paged = await ledger.actuals(client, "DE01", "2026-10")
    assert paged == expected
    assert client.tokens.grants == 2
    # 5 for `expected` (token, 3 lookups, 1 page); then token, 3 lookups, page 1, 429, 429, page 2,
    # 401, token, page 3: every injected fault was met and retried exactly once.
    assert stats(sandbox)["requests"] == 5 + 11


async def test_concurrency_cap_holds_under_a_burst_of_ledger_reads(sandbox: str) -> None:
    arm(sandbox, "POST */suiteql", "latency", latency_ms=30, count=100)
    async with httpx.AsyncClient(base_url=sandbox) as http:
        client = make_client(sandbox, http, max_in_flight=3)
        await client.tokens.token()
        batches = await asyncio.gather(*(ledger.actuals(client, "US01", f"2026-0{m}") for m in range(1, 10)))
    assert [b.period for b in batches] == [f"2026-0{m}" for m in range(1, 10)]
    assert stats(sandbox)["max_in_flight_seen"] == 3


async def test_invalid_content_on_patch_carries_the_vendor_path(netsuite: NetSuiteClient) -> None:
    with pytest.raises(ErpInvalidContent) as refused:
        await netsuite.update_customer_master("1001", CustomerMasterChanges(subsidiary_id="3"))
    assert (refused.value.code, refused.value.path, refused.value.field) == (
        "INVALID_CONTENT",
        "subsidiary",
        "subsidiary_id",
    )
    customer = await netsuite.update_customer_master(
        "1001", CustomerMasterChanges(credit_limit=Money(amount=Decimal("12345.60"), currency="USD"))
    )
    assert customer.credit_limit == Money(amount=Decimal("12345.60"), currency="USD")


async def test_malformed_suiteql_page_is_an_upstream_error_and_502(
    sandbox: str, netsuite: NetSuiteClient, api: AsyncTestClient[Any]
) -> None:
    arm(sandbox, "POST */suiteql", "malformed")
    with pytest.raises(ErpUpstreamError):
        await ledger.items(netsuite)
    arm(sandbox, "POST */suiteql", "malformed")
    response = await api.get("/v1/reference/items")
    assert response.status_code == 502
    assert response.json()["type"].endswith("/erp-error")
    # A NetSuite 503 is NetSuite unavailable, not a wrong answer: 503, with when to come back.
    arm(sandbox, "POST */suiteql", "error", status=503)
    unavailable = await api.get("/v1/accounting-periods")
    assert unavailable.status_code == 503
    assert unavailable.json()["type"].endswith("/erp-unavailable")
    assert int(unavailable.headers["retry-after"]) >= 1
    assert (await api.get("/v1/accounting-periods")).status_code == 200


async def test_a_throttled_token_endpoint_is_retried(sandbox: str, netsuite: NetSuiteClient) -> None:
    arm(sandbox, "POST */oauth2/v1/token", "throttle", count=2)
    assert (await netsuite.get_customer("1001")).id == "1001"
    assert netsuite.tokens.grants == 1
    assert (stats(sandbox)["token_grants"], stats(sandbox)["requests"]) == (1, 4)  # 429, 429, grant, GET
