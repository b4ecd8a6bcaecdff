"""The Anaplan sandbox's versions and actuals module over real HTTP: version metadata, published
versions refusing writes, edit windows, reporting currencies and the benchmark seed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from system_apis.planning.sandbox.seed import ACTUALS_FILE_ID, ACTUALS_IMPORT_ID, MODEL_ID
from tests.system_apis.planning.helpers import MODEL_PATH, cells, login, serve_sandbox

HEADER = "Version,Entity,Period,Account,Product,Currency,Amount\r\n"
FILE = f"{MODEL_PATH}/files/{ACTUALS_FILE_ID}"
TASKS = f"{MODEL_PATH}/imports/{ACTUALS_IMPORT_ID}/tasks"
VERSIONS = f"/2/0/models/{MODEL_ID}/versions"


@pytest.fixture
def api(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        yield client


def run_import(client: httpx.Client, rows: str) -> dict[str, object]:
    assert client.post(FILE, json={"chunkCount": -1}).status_code == 200
    assert client.put(f"{FILE}/chunks/0", content=(HEADER + rows).encode()).status_code == 204
    assert client.post(f"{FILE}/complete", json={}).status_code == 200
    task_id = client.post(TASKS, json={"localeName": "en_US"}).json()["task"]["taskId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        task: dict[str, object] = client.get(f"{TASKS}/{task_id}").json()["task"]
        if task["taskState"] == "COMPLETE":
            return task
        time.sleep(0.02)
    raise AssertionError("import task did not complete")


def dump_lines(client: httpx.Client, task: dict[str, object]) -> list[str]:
    return client.get(f"{TASKS}/{task['taskId']}/dump/chunks/0").text.splitlines()


def test_version_metadata_lists_the_seeded_versions_with_their_edit_windows(api: httpx.Client) -> None:
    body = api.get(VERSIONS).json()
    assert body["status"] == {"code": 200, "message": "Success"}
    assert body["meta"]["paging"]["totalSize"] == 5
    versions = {v["name"]: v for v in body["versionMetadata"]}
    assert list(versions) == ["Actuals", "Committed Bookings", "Forecast FY26 Q4", "Forecast FY27", "Budget FY27"]
    assert versions["Actuals"]["isActual"] is True
    assert versions["Actuals"]["editFrom"] == {"periodText": "Jan 25", "date": "2025-01-01"}
    assert versions["Forecast FY27"]["isCurrent"] is True
    assert versions["Forecast FY27"]["editFrom"]["date"] == "2027-01-01"
    assert (versions["Budget FY27"]["editFrom"], versions["Budget FY27"]["editTo"]) == (None, None)
    assert versions["Forecast FY26 Q4"]["editTo"] is None
    assert api.get("/2/0/models/0000/versions").status_code == 404
    assert httpx.get(f"{api.base_url}{VERSIONS}").status_code == 401


def test_actuals_land_per_version_entity_period_account_and_product(api: httpx.Client, sandbox_url: str) -> None:
    task = run_import(
        api,
        "Actuals,DE01,2026-10,4000,FIG-PLAT,EUR,130500.25\r\n"
        "Actuals,DE01,2026-10,4000,FIG-SUPP,EUR,20100.00\r\n"
        "Actuals,DE01,2026-10,6000,UNALLOCATED,EUR,-41000.10\r\n",
    )
    result = task["result"]
    assert isinstance(result, dict)
    assert result["successful"] is True
    rows = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Actuals")
    assert [(c["account"], c["product"], c["amount"]) for c in rows] == [
        ("4000", "FIG-PLAT", "130500.25"),
        ("4000", "FIG-SUPP", "20100.00"),
        ("6000", "UNALLOCATED", "-41000.10"),
    ]
    # the forecast cell of the same coordinates is another version's cell and stays as it was
    forecast = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Forecast FY26 Q4")
    assert [c["amount"] for c in forecast] == ["131000.00"]
    run_import(api, "Actuals,DE01,2026-10,4000,FIG-PLAT,EUR,130000.00\r\n")
    again = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Actuals")
    assert [c["amount"] for c in again] == ["130000.00", "20100.00", "-41000.10"]


def test_published_versions_and_closed_periods_refuse_writes_with_the_reason(
    api: httpx.Client, sandbox_url: str
) -> None:
    before = cells(sandbox_url, module="actuals")
    task = run_import(
        api,
        "Budget FY27,DE01,2027-01,4000,FIG-PLAT,EUR,1.00\r\n"
        "Forecast FY26 Q4,DE01,2026-11,4000,FIG-PLAT,EUR,1.00\r\n"
        "Forecast FY27,DE01,2026-12,4000,FIG-PLAT,EUR,1.00\r\n"
        "Plan B,DE01,2026-12,4000,FIG-PLAT,EUR,1.00\r\n"
        "Actuals,DE01,2026-12,4000,FIG-PLAT,USD,1.00\r\n"
        "Actuals,DE01,2026-12,4999,FIG-PLAT,EUR,1.00\r\n",
    )
    result = task["result"]
    assert isinstance(result, dict)
    assert (result["successful"], result["failureDumpAvailable"]) == (False, True)
    dump = dump_lines(api, task)
    assert dump[0] == "_Line_,_Error_1_,Version,Entity,Period,Account,Product,Currency,Amount"
    reasons = [line.split(",", 2)[1] for line in dump[1:]]
    assert reasons[0] == "Version 'Budget FY27' is published and locked: none of its cells can be changed"
    assert "Version 'Forecast FY26 Q4' is published" in reasons[1]
    assert "outside the edit window of version 'Forecast FY27' (2027-01 to 2027-12)" in reasons[2]
    assert "Version 'Plan B' is not an item of Versions" in reasons[3]
    assert "not the reporting currency EUR of entity DE01" in reasons[4]
    assert "Account '4999'" in reasons[5]
    assert cells(sandbox_url, module="actuals") == before


def test_admin_publishes_and_reopens_a_version(api: httpx.Client, sandbox_url: str) -> None:
    published = httpx.post(f"{sandbox_url}/__admin/versions/107000000001", json={"published": True})
    assert published.status_code == 200
    assert published.json()["version"]["editFrom"] is None
    actuals = next(v for v in api.get(VERSIONS).json()["versionMetadata"] if v["name"] == "Actuals")
    assert actuals["editTo"] is None
    task = run_import(api, "Actuals,US01,2026-10,4000,FIG-PLAT,USD,5.00\r\n")
    assert "Version 'Actuals' is published" in dump_lines(api, task)[1]
    httpx.post(f"{sandbox_url}/__admin/versions/107000000001", json={"published": False}).raise_for_status()
    reopened = run_import(api, "Actuals,US01,2026-10,4000,FIG-PLAT,USD,5.00\r\n")
    result = reopened["result"]
    assert isinstance(result, dict)
    assert result["successful"] is True
    assert httpx.post(f"{sandbox_url}/__admin/versions/999", json={"published": True}).status_code == 404


def test_seed_scale_adds_deterministic_cells_for_benchmarks() -> None:
    with serve_sandbox(seed_scale=5000) as base:
        bookings = cells(base)
        actuals = cells(base, module="actuals", version="Actuals")
        demo = cells(base, module="actuals", version="Actuals", entity="DE01", period="2026-09")
        sample = [(c["booking_code"], c["amount"]) for c in bookings if c["booking_code"] == "SO-BENCH-004999"]
    assert len(bookings) == 5000 + 4
    assert len(actuals) == 2880  # every Actuals cell of FY2025-FY2026 ...
    # ... where the demo seed's cells keep their values
    assert ("4000", "FIG-PLAT", "128250.00") in [(c["account"], c["product"], c["amount"]) for c in demo]
    with serve_sandbox(seed_scale=5000) as base:
        assert [(c["booking_code"], c["amount"]) for c in cells(base) if c["booking_code"] == "SO-BENCH-004999"] == (
            sample
        )


def test_a_published_version_stays_published_across_a_restart(tmp_path: Path) -> None:
    with serve_sandbox(data_dir=str(tmp_path)) as base:
        httpx.post(f"{base}/__admin/versions/107000000004", json={"published": True}).raise_for_status()
    with serve_sandbox(data_dir=str(tmp_path)) as base, httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        forecast = next(v for v in client.get(VERSIONS).json()["versionMetadata"] if v["name"] == "Forecast FY27")
        assert (forecast["editFrom"], forecast["editTo"]) == (None, None)
        task = run_import(client, "Forecast FY27,US01,2027-02,4000,FIG-PLAT,USD,5.00\r\n")
        assert "Version 'Forecast FY27' is published" in dump_lines(client, task)[1]
