"""The planning connector's actuals, versions and import-status calls against a running Anaplan sandbox."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from contracts import ActualsBatch, ActualsLine, ForecastVersion, Money
from system_apis.planning.connector import PlanningConnector
from system_apis.planning.connector import client as client_module
from system_apis.planning.errors import PlanningBusy, PlanningRequestRejected
from system_apis.planning.sandbox.seed import ACTUALS_IMPORT_ID, BOOKINGS_IMPORT_ID, MODEL_ID, WORKSPACE_ID
from tests.system_apis.planning.helpers import MODEL_PATH, arm, armed, cells, config, publish, serve_sandbox


def line(account: str, amount: str, currency: str = "EUR", product: str | None = None) -> ActualsLine:
    return ActualsLine(account=account, amount=Money(amount=Decimal(amount), currency=currency), product_code=product)


OCTOBER = ActualsBatch(
    legal_entity="DE01",
    period="2026-10",
    currency="EUR",
    lines=[
        line("4000", "130500.25", product="FIG-PLAT"),
        line("4100", "20100.005", product="FIG-SUPP"),
        line("6000", "-41000.10"),
    ],
)


async def test_actuals_load_lands_in_the_actuals_version_and_reads_back_exactly(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    result = await connector.load_actuals(OCTOBER)
    assert (result.successful, result.state, result.rows_loaded, result.rows_rejected) == (True, "COMPLETE", 3, 0)
    assert result.import_id == ACTUALS_IMPORT_ID
    landed = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Actuals")
    assert [(c["account"], c["product"], c["amount"]) for c in landed] == [
        ("4000", "FIG-PLAT", "130500.25"),
        ("4100", "FIG-SUPP", "20100.005"),
        ("6000", "UNALLOCATED", "-41000.10"),
    ]
    back = await connector.read_actuals(legal_entity="DE01", period="2026-10")
    assert back == OCTOBER  # product-less line comes back as None, amounts keep their scale
    # re-loading overwrites the same cells instead of adding to them
    corrected = ActualsBatch(legal_entity="DE01", period="2026-10", currency="EUR", lines=[line("6000", "-40000.00")])
    assert (await connector.load_actuals(corrected)).rows_loaded == 1
    again = await connector.read_actuals(legal_entity="DE01", period="2026-10")
    assert again is not None
    assert [(x.account, str(x.amount.amount)) for x in again.lines] == [
        ("4000", "130500.25"),
        ("4100", "20100.005"),
        ("6000", "-40000.00"),
    ]
    # the forecast version's cell at the same coordinates is untouched
    forecast = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Forecast FY26 Q4")
    assert [c["amount"] for c in forecast] == ["131000.00"]


async def test_no_actuals_for_an_entity_and_period_reads_as_none(connector: PlanningConnector) -> None:
    assert await connector.read_actuals(legal_entity="GB01", period="2027-03") is None
    # only the Actuals version counts: DE01 2027-01 has a budget cell, no actuals
    assert await connector.read_actuals(legal_entity="DE01", period="2027-01") is None


async def test_loading_into_a_published_version_is_refused_row_by_row_with_the_reason(
    connector: PlanningConnector, sandbox_url: str, http: httpx.AsyncClient
) -> None:
    publish(sandbox_url, "107000000001")
    result = await connector.load_actuals(OCTOBER)
    assert (result.successful, result.rows_loaded, result.rows_rejected) == (False, 0, 3)
    assert [r.row for r in result.rejected] == [1, 2, 3]
    assert result.rejected[0].reason == "Version 'Actuals' is published and locked: none of its cells can be changed"
    assert result.rejected[2].values == ["Actuals", "DE01", "2026-10", "6000", "UNALLOCATED", "EUR", "-41000.10"]
    assert cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Actuals") == []
    # a connector configured for a published budget version is refused the same way
    budget = PlanningConnector(config(sandbox_url, actuals_version="Budget FY27"), http)
    refused = await budget.load_actuals(OCTOBER)
    assert refused.rows_rejected == 3
    assert "Version 'Budget FY27' is published" in refused.rejected[0].reason


async def test_forecast_versions_map_edit_windows_to_published(
    connector: PlanningConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = [
        ForecastVersion(id="107000000001", name="Actuals", published=False, kind="actuals"),
        ForecastVersion(id="107000000002", name="Committed Bookings", published=False, kind="committed"),
        ForecastVersion(id="107000000003", name="Forecast FY26 Q4", published=True, kind="forecast"),
        ForecastVersion(id="107000000004", name="Forecast FY27", published=False, kind="forecast"),
        ForecastVersion(id="107000000005", name="Budget FY27", published=True, kind="budget"),
    ]
    assert await connector.forecast_versions() == expected
    monkeypatch.setattr(client_module, "_PAGE", 2)  # three pages of 2, 2 and 1
    assert await connector.forecast_versions() == expected


async def test_import_status_keeps_rejected_rows_while_the_dump_exists(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    bad = ActualsBatch(
        legal_entity="DE01",
        period="2026-10",
        currency="EUR",
        lines=[line("4000", "1.00", product="FIG-PLAT"), line("4999", "2.00")],
    )
    loaded = await connector.load_actuals(bad)
    assert (loaded.rows_loaded, loaded.rows_rejected) == (1, 1)
    status = await connector.import_status(loaded.task_id)
    assert status == loaded
    # the next error-free run of the same import removes the dump: the counts stay, the rows go
    await connector.load_actuals(OCTOBER)
    later = await connector.import_status(loaded.task_id)
    assert later is not None
    assert (later.successful, later.rows_loaded, later.rows_rejected, later.rejected) == (False, 1, 1, [])
    # unknown and malformed ids are None (a malformed one never reaches a vendor URL)
    assert await connector.import_status("0" * 32) is None
    assert await connector.import_status("../../files") is None


async def test_import_status_of_a_task_still_running(http: httpx.AsyncClient) -> None:
    with serve_sandbox(task_delay=5.0) as base:
        connector = PlanningConnector(config(base), http)
        model = f"/2/0/workspaces/{WORKSPACE_ID}/models/{MODEL_ID}"
        started = await connector.session.json("POST", f"{model}/imports/{BOOKINGS_IMPORT_ID}/tasks", json={})
        status = await connector.import_status(started["task"]["taskId"])
    assert status is not None
    assert (status.import_id, status.state, status.successful, status.rows_loaded) == (
        BOOKINGS_IMPORT_ID,
        "NOT_STARTED",
        False,
        0,
    )


async def test_actuals_survive_token_expiry_throttling_and_a_busy_model_mid_run(
    connector: PlanningConnector, sandbox_url: str
) -> None:
    arm(sandbox_url, path="*/files/*/chunks/2", method="PUT", kind="expired_token")
    arm(sandbox_url, path="*/imports/*/tasks/*", method="GET", kind="throttle", times=2)
    arm(sandbox_url, path="*/exports/*/tasks", method="POST", kind="busy")
    arm(sandbox_url, path="/2/0/models/*/versions", kind="throttle")
    result = await connector.load_actuals(OCTOBER)
    assert result.successful is True
    assert await connector.read_actuals(legal_entity="DE01", period="2026-10") == OCTOBER
    assert len(await connector.forecast_versions()) == 5
    assert connector.session.logins == 2  # logged in once, and once more after the token died
    assert armed(sandbox_url) == []


async def test_throttled_beyond_the_budget_is_planning_busy(connector: PlanningConnector, sandbox_url: str) -> None:
    arm(sandbox_url, path="/2/0/models/*/versions", kind="throttle", times=10)
    with pytest.raises(PlanningBusy) as caught:
        await connector.forecast_versions()
    assert caught.value.status == 429


async def test_a_load_beyond_the_chunk_limit_is_refused_before_any_upload(
    sandbox_url: str, http: httpx.AsyncClient
) -> None:
    tiny = PlanningConnector(config(sandbox_url, chunk_bytes=64, max_chunks=2), http)
    before = cells(sandbox_url, module="actuals")
    with pytest.raises(PlanningRequestRejected, match="at most 2"):
        await tiny.load_actuals(OCTOBER)
    assert tiny.session.logins == 0  # nothing was sent
    assert cells(sandbox_url, module="actuals") == before


async def test_dumps_and_exports_cut_into_many_chunks_are_joined_before_parsing(http: httpx.AsyncClient) -> None:
    with serve_sandbox(export_chunk_bytes=40) as base:
        connector = PlanningConnector(config(base), http)
        mixed = ActualsBatch(
            legal_entity="DE01",
            period="2026-10",
            currency="EUR",
            lines=[*OCTOBER.lines, line("4999", "7.00", product="FIG-SERV"), line("4998", "8.00")],
        )
        result = await connector.load_actuals(mixed)
        back = await connector.read_actuals(legal_entity="DE01", period="2026-10")
        dump_url = f"{MODEL_PATH}/imports/{ACTUALS_IMPORT_ID}/tasks/{result.task_id}/dump/chunks"
        chunk_count = len((await connector.session.json("GET", dump_url))["chunks"])
    assert chunk_count > 2
    assert [(r.row, r.values[3]) for r in result.rejected] == [(4, "4999"), (5, "4998")]
    assert back == OCTOBER
