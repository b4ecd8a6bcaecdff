"""Error and throttle paths of the Anaplan session against a running sandbox: token refresh and
re-login in the middle of a run, refused credentials, malformed answers, slow and failing vendor."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from contracts import ActualsBatch, ActualsLine, Money
from servicekit import create_http_client
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import PlanningAuthError, PlanningProtocolError, PlanningUnavailable
from tests.system_apis.planning.helpers import arm, armed, config, serve_sandbox

BATCH = ActualsBatch(
    legal_entity="US01",
    period="2026-10",
    currency="USD",
    lines=[ActualsLine(account="4000", amount=Money(amount=Decimal("10.00"), currency="USD"), product_code="FIG-PLAT")],
)


async def test_a_token_running_out_during_a_load_is_refreshed_not_replaced(http: httpx.AsyncClient) -> None:
    # 1 s tokens refreshed 0.8 s early: the load's polls (0.1 s apart over a 0.5 s task) cross the margin
    with serve_sandbox(token_ttl=1.0, task_delay=0.5) as base:
        connector = PlanningConnector(config(base, refresh_margin=0.8, poll_interval=0.1), http)
        result = await connector.load_actuals(BATCH)
    assert result.successful is True
    assert connector.session.logins == 1
    assert connector.session.refreshes >= 1


async def test_a_token_that_expired_while_idle_is_replaced_by_a_new_login(http: httpx.AsyncClient) -> None:
    with serve_sandbox(token_ttl=0.3) as base:
        connector = PlanningConnector(config(base, refresh_margin=0.1), http)
        await connector.check()
        await asyncio.sleep(0.4)  # past expiry: the refresh is refused, so the session logs in again
        versions = await connector.forecast_versions()
    assert len(versions) == 5
    assert (connector.session.logins, connector.session.refreshes) == (2, 0)


async def test_a_token_refused_again_after_a_new_login_is_an_auth_error(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    arm(sandbox_url, path="/2/0/models/*/versions", kind="expired_token", times=2)
    with pytest.raises(PlanningAuthError, match="twice") as caught:
        await connector.forecast_versions()
    assert caught.value.status == 401
    assert connector.session.logins == 2  # one re-login, no loop


async def test_refused_credentials_are_an_auth_error(sandbox_url: str, http: httpx.AsyncClient) -> None:
    connector = PlanningConnector(config(sandbox_url, password="wrong"), http)
    with pytest.raises(PlanningAuthError, match="refused the credentials"):
        await connector.forecast_versions()


async def test_a_malformed_answer_is_a_protocol_error(connector: PlanningConnector, sandbox_url: str) -> None:
    arm(sandbox_url, path="/2/0/models/*/versions", kind="malformed")
    with pytest.raises(PlanningProtocolError, match="malformed JSON"):
        await connector.forecast_versions()


async def test_transient_5xx_on_a_read_is_retried_but_a_slow_vendor_is_unavailable(sandbox_url: str) -> None:
    async with create_http_client("http://unused.invalid", timeout=0.2) as http:
        connector = PlanningConnector(config(sandbox_url), http)
        arm(sandbox_url, path="/2/0/models/*/versions", kind="error", status=503)
        assert len(await connector.forecast_versions()) == 5  # the client retried the idempotent GET
        assert armed(sandbox_url) == []
        arm(sandbox_url, path="/2/0/models/*/versions", kind="latency", latency_ms=400, times=3)
        with pytest.raises(PlanningUnavailable, match="unreachable"):
            await connector.forecast_versions()
