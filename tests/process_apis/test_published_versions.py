"""Only published planning versions are reported, and publications are recorded: the process API
against the real planning system API and its Anaplan sandbox (CRM and ERP are the HTTP fakes)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from contracts import SALES_ORDER_BOOKED, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, StreamPublisher
from servicekit.audit_chain import GLOBAL_CHAIN, AuditEntry
from servicekit.audit_store import AuditStore
from system_apis.planning import PlanningSettings
from system_apis.planning import create_app as create_planning_app
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until
from tests.support import running_server
from tests.system_apis.planning.helpers import publish, serve_sandbox

COMMITTED = "107000000002"
FORECAST_FY27 = "107000000004"
BUDGET_FY27 = "107000000005"


@pytest.fixture(scope="module")
def anaplan() -> Iterator[str]:
    with serve_sandbox() as base:
        yield base


@pytest.fixture
def planning(anaplan: str, redis_url: str) -> Iterator[str]:
    """The real planning system API on the module's Anaplan sandbox, back at its seed (tokens are not
    checked: the fake IdP's tokens are not signed)."""
    httpx.post(f"{anaplan}/__admin/reset").raise_for_status()
    settings = PlanningSettings(
        redis_url=redis_url, auth_required=False, sandbox_url=anaplan, poll_interval=0.02, retry_base=0.01
    )
    with running_server(create_planning_app(settings)) as base:
        yield base


async def _audit(redis: RedisClient, action: str) -> list[AuditEntry]:
    """The global audit chain's entries of `action` (versions belong to no legal entity)."""
    return [e async for _, e in AuditStore(redis).entries(GLOBAL_CHAIN) if e.action == action]


async def test_a_draft_versions_figures_are_never_reported_and_its_publication_makes_them_appear(
    systems: Systems, redis: RedisClient, redis_url: str, planning: str, anaplan: str
) -> None:
    deal = opportunity("0068d00000PUBV1AAA", account_id="0018d00000PUBV1AAA")
    systems.reset(deal)
    async with process_api(settings_for(systems, redis_url, planning_url=planning)) as client:
        await client.post(RUNS, json={"opportunity_id": deal.id})
        await run_reaches(client, f"q2c-{deal.id}", "order_created")
        order = systems.book(f"SF-{deal.id}")
        booked = new_event(
            source="fig://test",
            type=SALES_ORDER_BOOKED,
            data={"sales_order_id": order.id, "external_id": f"SF-{deal.id}"},
            event_id="evt-pubv-1",
        )
        await StreamPublisher(redis, ERP_EVENTS).publish(booked)
        run = await run_reaches(client, f"q2c-{deal.id}", "completed")
        assert run["planning"]["rows_loaded"] == 1  # posted into the editable Committed Bookings version

        command = {"legal_entity": "GB01", "period": "2026-11", "tolerance": "0.01"}
        draft = (await client.post("/v1/reconciliations", json=command)).json()
        assert draft["planning_version"] == {
            "id": COMMITTED,
            "name": "Committed Bookings",
            "published": False,
            "kind": "committed",
        }
        assert draft["planning_reported"] is False
        assert draft["planning_committed"] == {"records": 0, "amount": "0"}  # the draft's 3000.00 is not shown
        assert (draft["status"], draft["breaks"]) == ("balanced", [])
        seen = (await client.get("/v1/planning-versions")).json()["items"]
        assert [(v["id"], v["published"], v["published_since"]) for v in seen] == [(COMMITTED, False, None)]
        assert await _audit(redis, "planning.version.published") == []
        executive = (await client.get("/v1/ops/summary")).json()["executive"]
        assert (executive["timing_variance"], executive["timing_variance_runs"]) == ({}, 0)
        assert executive["timing_variance_reported"] is False
        assert executive["timing_variance_version"]["name"] == "Committed Bookings"

        publish(anaplan, COMMITTED)
        published = (await client.post("/v1/reconciliations", json=command)).json()
        assert published["planning_reported"] is True
        assert published["planning_version"]["published"] is True
        assert published["planning_version"]["name"] == "Committed Bookings"
        assert published["planning_committed"] == {"records": 1, "amount": "3000.00"}
        assert published["status"] == "balanced"

        listed = (await client.get("/v1/planning-versions", params={"published": "true"})).json()["items"]
        assert [v["name"] for v in listed] == ["Committed Bookings"]
        assert listed[0]["published_since"] is not None
        [entry] = await _audit(redis, "planning.version.published")
        assert entry.resource == f"planning-version:{COMMITTED}"
        assert entry.actor == f"reconciliation:{published['id']}"
        assert entry.detail == {"name": "Committed Bookings", "kind": "committed"}
        executive = (await client.get("/v1/ops/summary")).json()["executive"]
        assert (executive["timing_variance"], executive["timing_variance_runs"]) == ({"GBP": "3000"}, 1)
        assert executive["timing_variance_reported"] is True
        assert executive["timing_variance_version"]["published_since"] == listed[0]["published_since"]


async def test_open_planning_breaks_wait_while_the_version_is_unpublished(
    systems: Systems, redis: RedisClient, redis_url: str, planning: str, anaplan: str
) -> None:
    deal = opportunity("0068d00000PUBV2AAA", account_id="0018d00000PUBV2AAA")
    systems.reset(deal)
    publish(anaplan, COMMITTED)
    command = {"legal_entity": "GB01", "period": "2026-11", "tolerance": "0.01"}
    async with process_api(settings_for(systems, redis_url, planning_url=planning)) as client:
        await client.post(RUNS, json={"opportunity_id": deal.id})
        await run_reaches(client, f"q2c-{deal.id}", "order_created")
        systems.book(f"SF-{deal.id}")  # booked in the ERP, not (yet) committed in planning
        first = (await client.post("/v1/reconciliations", json=command)).json()
        [missing] = first["breaks"]
        assert missing["kind"] == "missing_in_planning"

        publish(anaplan, COMMITTED, published=False)  # reopened for edits: a draft again
        reopened = (await client.post("/v1/reconciliations", json=command)).json()
        assert (reopened["planning_reported"], reopened["breaks"]) == (False, [])
        exception = (await client.get(f"/v1/exceptions/{missing['exception_id']}")).json()
        assert exception["status"] == "open"  # not closed by a run that did not look at planning

        [withdrawn] = await _audit(redis, "planning.version.unpublished")
        assert withdrawn.resource == f"planning-version:{COMMITTED}"


async def test_the_scheduler_records_versions_published_and_withdrawn_in_planning(
    systems: Systems, redis: RedisClient, redis_url: str, planning: str, anaplan: str
) -> None:
    settings = settings_for(
        systems, redis_url, planning_url=planning, scheduler=True, scheduler_tick=0.05, version_watch=0.05
    )
    async with process_api(settings) as client:

        async def published() -> list[str]:
            items = (await client.get("/v1/planning-versions", params={"published": "true"})).json()["items"]
            return [v["name"] for v in items]

        async def shows(names: list[str]) -> bool:
            return await published() == names

        await until(lambda: shows(["Forecast FY26 Q4", "Budget FY27"]))  # seen published on the first read
        publish(anaplan, FORECAST_FY27)
        publish(anaplan, BUDGET_FY27, published=False)
        await until(lambda: shows(["Forecast FY26 Q4", "Forecast FY27"]))

        made = [e.resource for e in await _audit(redis, "planning.version.published")]
        assert sorted(made) == [f"planning-version:{v}" for v in ("107000000003", FORECAST_FY27, BUDGET_FY27)]
        [withdrawn] = await _audit(redis, "planning.version.unpublished")
        assert (withdrawn.resource, withdrawn.actor) == (
            f"planning-version:{BUDGET_FY27}",
            "scheduler:planning-versions",
        )
        everything = {v["name"]: v for v in (await client.get("/v1/planning-versions")).json()["items"]}
        assert len(everything) == 5
        assert everything["Budget FY27"]["published_since"] is None
        assert everything["Forecast FY27"]["published_since"] is not None
