"""More throttle and error paths of the connector against the sandbox over real HTTP.

Sessions that really time out, the org's real daily allocation running out, malformed bodies on
every kind of call, writes that are not retried, and a Salesforce too slow to answer.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from litestar.testing import AsyncTestClient

from servicekit.http import create_http_client
from system_apis.crm import create_app as create_crm_app
from system_apis.crm.connector import SalesforceClient, SalesforceCredentials, SessionProvider
from system_apis.crm.errors import (
    SalesforceLimitExceeded,
    SalesforceProtocolError,
    SalesforceUnavailable,
    SalesforceUnreachable,
)
from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import CLIENT_ID, CLIENT_SECRET, SandboxAdmin, crm_settings
from tests.tokens import TestIssuer

RHEINWERK = "0018d00000DEMOAAAA"


class _Counting:
    """An httpx client on `base` that counts the calls it sends, by kind."""

    def __init__(self, base: str) -> None:
        self.tokens = 0
        self.rest = 0
        self.http = create_http_client(base, retries=2)
        self.http.event_hooks["request"].append(self._count)
        credentials = SalesforceCredentials(login_url=base, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        self.client = SalesforceClient(self.http, SessionProvider(self.http, credentials))

    async def _count(self, request: httpx.Request) -> None:
        if request.url.path.endswith("/oauth2/token"):
            self.tokens += 1
        else:
            self.rest += 1


async def test_a_session_that_times_out_mid_run_is_renewed_once() -> None:
    with running_server(create_app(SalesforceSandboxSettings(session_timeout=0.3))) as base:
        counting = _Counting(base)
        try:
            assert (await counting.client.get_record("Account", RHEINWERK, ["Name"]))["Name"]
            await asyncio.sleep(0.4)  # the org's session timeout passes between two calls of a run
            assert (await counting.client.get_record("Account", RHEINWERK, ["Name"]))["Name"]
        finally:
            await counting.http.aclose()
    assert counting.tokens == 2
    assert counting.rest == 3  # the refused call, then its one retry with the new session


async def test_the_real_allocation_running_out_stops_at_once(sandbox: str, admin: SandboxAdmin) -> None:
    counting = _Counting(sandbox)
    try:
        await counting.client.query("SELECT Id FROM Account LIMIT 1")
        admin.usage(used=15_000)
        sent = counting.rest
        with pytest.raises(SalesforceLimitExceeded) as raised:
            await counting.client.query("SELECT Id FROM Account LIMIT 1")
        assert counting.rest == sent + 1  # one call: no retry, no re-authentication
        assert counting.client.limit_info == "api-usage=15000/15000"
        assert raised.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    finally:
        await counting.http.aclose()


async def test_malformed_bodies_are_protocol_errors_everywhere(
    sf_client: SalesforceClient, admin: SandboxAdmin
) -> None:
    admin.fault("malformed", path="/services/data/*/sobjects/*")
    with pytest.raises(SalesforceProtocolError, match="malformed JSON"):
        await sf_client.get_record("Account", RHEINWERK)
    admin.fault("malformed", path="/services/oauth2/token")
    fresh = SalesforceClient(sf_client.http, SessionProvider(sf_client.http, sf_client.sessions.credentials))
    with pytest.raises(SalesforceProtocolError):
        await fresh.get_record("Account", RHEINWERK)


async def test_a_write_answered_503_is_not_retried(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    await sf_client.get_record("Account", RHEINWERK, ["Name"])  # a session exists
    admin.fault("status", path="/services/data/*/sobjects/Account/*", method="PATCH", status=503, count=3)
    with pytest.raises(SalesforceUnavailable):
        await sf_client.update_record("Account", RHEINWERK, {"Industry": "Retail"})
    # PATCH is not idempotent to the transport: exactly one attempt, the caller decides to retry.
    assert [f["remaining"] for f in admin.faults()] == [2]
    admin.fault("latency", latency_ms=150)  # latency alone is no error
    assert (await sf_client.get_record("Account", RHEINWERK, ["Industry"]))["Industry"] == "Technology"


async def test_a_slow_salesforce_is_a_timeout_then_504(
    sandbox: str, admin: SandboxAdmin, redis_url: str, issuer: tuple[TestIssuer, str]
) -> None:
    async with create_http_client(sandbox, timeout=0.2, retries=0) as http:
        credentials = SalesforceCredentials(login_url=sandbox, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        client = SalesforceClient(http, SessionProvider(http, credentials))
        await client.get_record("Account", RHEINWERK, ["Name"])
        admin.fault("latency", latency_ms=600)
        with pytest.raises(SalesforceUnreachable) as raised:
            await client.get_record("Account", RHEINWERK, ["Name"])
        assert raised.value.timeout is True
    app = create_crm_app(crm_settings(redis_url, sandbox, issuer, sf_timeout=0.2, sf_retries=0))
    async with AsyncTestClient(app) as api:
        admin.fault("latency", latency_ms=600)
        response = await api.get(
            f"/v1/accounts/{RHEINWERK}", headers={"Authorization": f"Bearer {issuer[0].mint(['crm:read'])}"}
        )
    assert response.status_code == 504
    assert response.json()["type"].endswith("/upstream-timeout")


async def test_every_503_of_the_crm_api_says_when_to_come_back(
    sandbox: str, admin: SandboxAdmin, redis_url: str, issuer: tuple[TestIssuer, str]
) -> None:
    app = create_crm_app(crm_settings(redis_url, sandbox, issuer, sf_retries=0))
    headers = {"Authorization": f"Bearer {issuer[0].mint(['crm:read'])}"}
    async with AsyncTestClient(app) as api:
        assert (await api.get(f"/v1/accounts/{RHEINWERK}", headers=headers)).status_code == 200
        admin.fault("status", path="/services/data/*/sobjects/Account/*", method="GET", status=503, count=1)
        unavailable = await api.get(f"/v1/accounts/{RHEINWERK}", headers=headers)
        assert unavailable.status_code == 503, unavailable.text
        assert int(unavailable.headers["retry-after"]) >= 1
        admin.usage(used=15_000)
        exhausted = await api.get(f"/v1/accounts/{RHEINWERK}", headers=headers)
    assert exhausted.status_code == 503, exhausted.text
    assert exhausted.json()["type"].endswith("/crm-limit-exceeded")
    assert exhausted.headers["retry-after"] == "60"
