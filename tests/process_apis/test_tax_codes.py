"""Quote-to-cash against the real ERP system API and NetSuite sandbox: every order line carries the
ERP tax code of the account's jurisdiction and the line's item; an unknown combination parks the
run with the tax team and posts nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from servicekit import RedisClient
from system_apis.erp import ErpSettings
from system_apis.erp import create_app as create_erp_app
from system_apis.erp.sandbox import SandboxSettings
from system_apis.erp.sandbox import create_app as create_sandbox_app
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2, opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for
from tests.support import running_server

RUN = f"q2c-{DEMO2}"


@pytest.fixture(scope="module")
def netsuite() -> Iterator[str]:
    with running_server(create_sandbox_app(SandboxSettings())) as base:
        yield base


@pytest.fixture(scope="module")
def erp_api(netsuite: str, redis_server: Any) -> Iterator[str]:
    settings = ErpSettings(
        redis_url=redis_server.url,
        sandbox_url=netsuite,
        auth_required=False,
        feed_interval=0,
        ns_backoff=0.01,
        ns_max_backoff=0.05,
    )
    with running_server(create_erp_app(settings)) as base:
        yield base


@pytest.fixture
def erp(erp_api: str, netsuite: str) -> str:
    httpx.post(f"{netsuite}/__admin/reset").raise_for_status()
    return erp_api


def _orders(netsuite: str, external_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(
        f"{netsuite}/__admin/sales-orders", params={"externalId": external_id}
    ).json()["items"]
    return found


async def test_each_posted_order_line_carries_the_tax_code_of_its_jurisdiction_and_item(
    systems: Systems, redis: RedisClient, redis_url: str, erp: str, netsuite: str
) -> None:
    deal = opportunity(
        region="NA",
        currency="USD",
        lines=(("FIG-PLAT", "10", "1200.00"), ("FIG-SERV", "3", "1500.00")),
    )
    systems.reset(deal)
    account = systems.accounts[deal.account_id]
    systems.accounts[deal.account_id] = msgspec.structs.replace(account, tax_jurisdiction="US-NY")
    async with process_api(settings_for(systems, redis_url, erp_url=erp)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        run = await run_reaches(client, RUN, "order_created")
        # The subscription is taxed at New York's rate; NY professional services have their own code.
        assert run["tax_code_ids"] == ["12", "16"]
        validated = next(g for g in run["gates"] if g["gate"] == "validated")
        assert "US-SALES-NY (12)" in validated["detail"]
        order = (await client.get(f"{RUNS}/{RUN}")).json()["erp_order_id"]
    [posted] = _orders(netsuite, f"SF-{deal.id}")
    assert posted["id"] == order
    assert [(line["item"]["id"], line["taxCode"]["id"]) for line in posted["item"]["items"]] == [
        ("101", "12"),
        ("103", "16"),
    ]
    assert posted["item"]["items"][0]["taxCode"]["refName"] == "US-SALES-NY"
    # The ERP system API reads the order back with the codes.
    async with httpx.AsyncClient(base_url=erp) as api:
        read = await api.get(f"/v1/sales-orders/{order}")
    assert read.status_code == 200, read.text
    assert [line["tax_code_id"] for line in read.json()["lines"]] == ["12", "16"]


async def test_an_unknown_jurisdiction_and_item_parks_the_run_with_the_tax_team_and_posts_nothing(
    systems: Systems, redis: RedisClient, redis_url: str, erp: str, netsuite: str
) -> None:
    deal = opportunity(region="NA", currency="USD", lines=(("FIG-PLAT", "1", "900.00"),))
    systems.reset(deal)
    account = systems.accounts[deal.account_id]
    systems.accounts[deal.account_id] = msgspec.structs.replace(account, tax_jurisdiction="US-OR")
    async with process_api(settings_for(systems, redis_url, erp_url=erp)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": deal.id})).status_code == 202
        run = await run_reaches(client, RUN, "failed")
        assert run["error"]["gate"] == "validated"
        assert run["error"]["errors"][0]["location"] == "$.lines[0].tax_code"
        assert "US-OR" in run["error"]["detail"]
        assert "custitem_fig_tax_jurisdictions" in run["error"]["detail"]
        record = (await client.get(f"/v1/exceptions/{run['exception_id']}")).json()
        assert (record["reason_code"], record["owner_team"]) == ("unknown_tax_code", "tax")
    assert _orders(netsuite, f"SF-{deal.id}") == []
    assert not any(c.service == "erp" and "sales-orders" in c.path for c in systems.calls)
