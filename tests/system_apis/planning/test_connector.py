"""The planning connector against a running Anaplan sandbox (tiny task delay and poll interval)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest

from contracts import CommittedBooking, Money
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.errors import ImportFailed, PlanningBusy, PlanningError, TaskTimeout
from system_apis.planning.sandbox.seed import (
    ACTUALS_FILE_ID,
    ACTUALS_IMPORT_ID,
    BOOKINGS_EXPORT_ID,
    BOOKINGS_IMPORT_ID,
    MODEL_ID,
    WORKSPACE_ID,
)
from tests.system_apis.planning.helpers import arm, armed, cells, config, serve_sandbox


def booking(code: str, entity: str, product: str, period: str, amount: str, currency: str) -> CommittedBooking:
    return CommittedBooking(
        booking_code=code,
        legal_entity=entity,
        period=period,
        product_code=product,
        amount=Money(amount=Decimal(amount), currency=currency),
    )


DEMO = [
    booking("SF-0068d00000DEMO1AAA-1", "DE01", "FIG-PLAT", "2026-11", "12000.00", "EUR"),
    booking("SF-0068d00000DEMO1AAA-2", "DE01", "FIG-SUPP", "2026-11", "2400.00", "EUR"),
    booking("SF-0068d00000DEMO2AAA-1", "GB01", "FIG-SUPP", "2026-11", "3000.005", "GBP"),
]


async def test_load_uploads_imports_and_reads_back_exact_amounts(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    result = await connector.load_committed_bookings(DEMO)
    assert result.successful is True
    assert result.state == "COMPLETE"
    assert (result.rows_loaded, result.rows_rejected, result.rejected) == (3, 0, [])
    assert result.import_id == BOOKINGS_IMPORT_ID
    assert [(c["booking_code"], c["amount"]) for c in cells(sandbox_url, entity="DE01", period="2026-11")] == [
        ("SF-0068d00000DEMO1AAA-1", "12000.00"),
        ("SF-0068d00000DEMO1AAA-2", "2400.00"),
    ]
    back = await connector.read_committed_bookings(legal_entity="GB01", period="2026-11")
    assert back == [DEMO[2]]
    assert str(back[0].amount.amount) == "3000.005"
    # a second load of the same codes overwrites instead of adding
    again = await connector.load_committed_bookings(DEMO)
    assert again.rows_loaded == 3
    assert len(await connector.read_committed_bookings(period="2026-11")) == 3


async def test_rejected_rows_come_back_with_their_position_and_reason(connector: PlanningConnector) -> None:
    rows = [
        DEMO[0],
        booking("BK-2", "XX99", "FIG-PLAT", "2026-11", "1.00", "EUR"),
        booking("BK-3", "US01", "FIG-GONE", "2026-11", "1.00", "USD"),
        booking("BK-4", "US01", "FIG-PLAT", "2031-01", "1.00", "USD"),
    ]
    result = await connector.load_committed_bookings(rows)
    assert result.successful is False
    assert (result.rows_loaded, result.rows_rejected) == (1, 3)
    assert [r.row for r in result.rejected] == [2, 3, 4]
    assert "XX99" in result.rejected[0].reason
    assert "FIG-GONE" in result.rejected[1].reason
    assert "timescale" in result.rejected[2].reason
    assert result.rejected[0].values == ["BK-2", "XX99", "FIG-PLAT", "2026-11", "EUR", "1.00"]


async def test_every_row_rejected_is_a_result_not_an_error(connector: PlanningConnector) -> None:
    result = await connector.load_committed_bookings([booking("BK-1", "ZZ01", "FIG-PLAT", "2026-11", "5", "EUR")])
    assert result.successful is False
    assert (result.rows_loaded, result.rows_rejected) == (0, 1)


async def test_import_that_processes_nothing_raises_import_failed(sandbox_url: str, http: httpx.AsyncClient) -> None:
    # bookings sent to the actuals import: its header check fails the whole file
    wrong = PlanningConnector(
        config(sandbox_url, bookings_import_id=ACTUALS_IMPORT_ID, bookings_file_id=ACTUALS_FILE_ID), http
    )
    with pytest.raises(ImportFailed) as caught:
        await wrong.load_committed_bookings(DEMO)
    assert caught.value.result["successful"] is False
    assert "do not match" in caught.value.message


async def test_token_expired_mid_run_is_replaced_once(connector: PlanningConnector, sandbox_url: str) -> None:
    arm(sandbox_url, path="*/files/*/chunks/1", method="PUT", kind="expired_token")
    result = await connector.load_committed_bookings(DEMO)
    assert result.successful is True
    assert connector.session.logins == 2
    assert armed(sandbox_url) == []


async def test_token_is_refreshed_before_it_runs_out(http: httpx.AsyncClient) -> None:
    with serve_sandbox(token_ttl=1.5) as base:
        connector = PlanningConnector(config(base, refresh_margin=1.2), http)
        await connector.check()
        await asyncio.sleep(0.4)  # now inside the refresh margin
        await connector.check()
        assert (connector.session.logins, connector.session.refreshes) == (1, 1)


async def test_throttled_and_busy_calls_back_off_then_succeed(connector: PlanningConnector, sandbox_url: str) -> None:
    arm(sandbox_url, path="*/imports/*/tasks", method="POST", kind="throttle", times=2)
    arm(sandbox_url, path="*/files/*/chunks/*", method="PUT", kind="busy", times=1)
    arm(sandbox_url, path="*/imports/*/tasks/*", method="GET", kind="busy", times=1)
    result = await connector.load_committed_bookings(DEMO)
    assert result.successful is True
    assert armed(sandbox_url) == []  # every refusal was met and retried through


async def test_busy_beyond_the_retry_budget_raises_planning_busy(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    arm(sandbox_url, path="*/imports/*/tasks", method="POST", kind="busy", times=10)
    with pytest.raises(PlanningBusy) as caught:
        await connector.load_committed_bookings(DEMO)
    assert caught.value.status == 409
    # one call plus max_retries (3) retries were spent, the rest of the rule is still armed
    assert armed(sandbox_url)[0]["times"] == 6


async def test_a_real_concurrent_task_is_waited_out(http: httpx.AsyncClient) -> None:
    """Another client's task keeps the model busy (409) until it completes; the connector retries through it."""
    with serve_sandbox(task_delay=0.3) as base:
        ours = PlanningConnector(config(base, retry_base=0.1, retry_max=0.2, max_retries=8), http)
        other = PlanningConnector(config(base), http)
        await other.session.json(
            "POST", f"/2/0/workspaces/{WORKSPACE_ID}/models/{MODEL_ID}/exports/{BOOKINGS_EXPORT_ID}/tasks", json={}
        )
        result = await ours.load_committed_bookings(DEMO[:1])
        assert result.successful is True


async def test_vendor_server_error_is_a_planning_error(connector: PlanningConnector, sandbox_url: str) -> None:
    arm(sandbox_url, path="*/imports/*/tasks", method="POST", kind="error", status=500)
    with pytest.raises(PlanningError) as caught:
        await connector.load_committed_bookings(DEMO)
    assert caught.value.status == 500


async def test_task_status_is_polled_no_faster_than_the_poll_interval() -> None:
    polls: list[float] = []

    async def record(request: httpx.Request) -> None:
        if request.method == "GET" and "/tasks/" in request.url.path:
            polls.append(asyncio.get_running_loop().time())

    with serve_sandbox(task_delay=0.5) as base:
        async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
            connector = PlanningConnector(config(base, poll_interval=0.15), client)
            started = asyncio.get_running_loop().time()
            result = await connector.load_committed_bookings(DEMO[:1])
    assert result.successful is True
    assert len(polls) >= 3
    gaps = [b - a for a, b in zip([started, *polls], polls, strict=False)]
    assert min(gaps) >= 0.15


async def test_a_task_that_outlives_the_timeout_raises_task_timeout(http: httpx.AsyncClient) -> None:
    with serve_sandbox(task_delay=2.0) as base:
        connector = PlanningConnector(config(base, task_timeout=0.1), http)
        with pytest.raises(TaskTimeout, match="still"):
            await connector.load_committed_bookings(DEMO[:1])
