"""Accounting periods: actuals runs follow the ERP's period close, and an empty period is no exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from contracts import PERIOD_CLOSED, AccountingPeriod, ActualsBatch, new_event
from contracts.streams import ERP_EVENTS
from servicekit import RedisClient, StreamPublisher
from tests.process_apis.fake_systems import Systems
from tests.process_apis.support import process_api, settings_for, until

A2P = "/v1/actuals-to-plan/runs"


async def _closed_event(redis: RedisClient, period: AccountingPeriod, event_id: str) -> None:
    data = msgspec.to_builtins(period)
    await StreamPublisher(redis, ERP_EVENTS).publish(
        new_event(source="fig://test", type=PERIOD_CLOSED, data=data, event_id=event_id)
    )


async def _run(client: Any, run_id: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        seen.update((await client.get(f"/v1/workflow-runs/{run_id}")).json())
        return seen.get("status") == status

    await until(reached)
    return seen


async def test_a_run_refused_for_an_open_period_is_retried_when_the_erp_closes_it(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    open_ = AccountingPeriod(legal_entity="DE01", subsidiary_id="2", period="2026-11", status="open")
    systems.periods.append(open_)
    async with process_api(settings_for(systems, redis_url)) as client:
        refused = (await client.post(A2P, json={"legal_entity": "DE01", "period": "2026-11"})).json()
        assert refused["status"] == "failed"
        exc_id = refused["exception_id"]

        # Accounting closes November: the ERP feed's close event alone finishes the run.
        closed = msgspec.structs.replace(open_, status="closed", closed_at=datetime(2026, 12, 3, tzinfo=UTC))
        systems.periods[0] = closed
        systems.actuals[("DE01", "2026-11")] = ActualsBatch(
            legal_entity="DE01", period="2026-11", currency="EUR", lines=[]
        )
        await _closed_event(redis, closed, "evt-close-nov")
        done = await _run(client, "a2p-DE01-2026-11", "completed")
        assert done["gates"][-1]["gate"] == "completed"
        settled = (await client.get(f"/v1/exceptions/{exc_id}")).json()
        assert settled["status"] == "resolved"
        assert [h["action"] for h in settled["history"]] == ["opened", "retry", "auto_resolved"]
        assert settled["history"][1]["note"] == "the ERP closed 2026-11 for DE01"


async def test_closing_a_period_with_no_activity_is_a_successful_run_with_zero_rows(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    closed = AccountingPeriod(
        legal_entity="DE01", subsidiary_id="2", period="2026-09", status="closed",
        closed_at=datetime(2026, 10, 4, tzinfo=UTC),
    )  # fmt: skip
    systems.periods.append(closed)
    systems.actuals[("DE01", "2026-09")] = ActualsBatch(legal_entity="DE01", period="2026-09", currency="EUR", lines=[])
    async with process_api(settings_for(systems, redis_url)) as client:
        await _closed_event(redis, closed, "evt-close-sep")
        run = await _run(client, "a2p-DE01-2026-09", "completed")
        assert run["result"]["rows_loaded"] == 0
        assert run["result"]["lines"] == 0
        assert "nothing to import" in run["gates"][-2]["detail"]
        assert systems.planning_actuals == []
        page = (await client.get("/v1/exceptions", params={"workflow": "actuals_to_plan"})).json()
        assert page["items"] == []
