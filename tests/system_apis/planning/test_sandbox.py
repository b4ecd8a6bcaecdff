"""The Anaplan sandbox over real HTTP: auth, chunked upload, tasks, dumps, busy model, faults, persistence."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from system_apis.planning.sandbox.seed import (
    ACTUALS_IMPORT_ID,
    BOOKINGS_EXPORT_ID,
    BOOKINGS_FILE_ID,
    BOOKINGS_IMPORT_ID,
    MODEL_ID,
    WORKSPACE_ID,
)
from tests.system_apis.planning.helpers import MODEL_PATH, PASSWORD, USER, arm, cells, login, serve_sandbox

HEADER = "Booking Code,Entity,Product,Period,Currency,Amount\r\n"
FILE = f"{MODEL_PATH}/files/{BOOKINGS_FILE_ID}"
TASKS = f"{MODEL_PATH}/imports/{BOOKINGS_IMPORT_ID}/tasks"


@pytest.fixture
def api(sandbox_url: str) -> Iterator[httpx.Client]:
    """A client on the sandbox that sends a fresh AnaplanAuthToken."""
    with httpx.Client(base_url=sandbox_url) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        yield client


def upload(client: httpx.Client, content: str) -> None:
    assert client.post(FILE, json={"chunkCount": -1}).status_code == 200
    assert client.put(f"{FILE}/chunks/0", content=content.encode()).status_code == 204
    assert client.post(f"{FILE}/complete", json={}).status_code == 200


def run_import(client: httpx.Client, content: str) -> dict[str, object]:
    upload(client, content)
    task_id = client.post(TASKS, json={"localeName": "en_US"}).json()["task"]["taskId"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        task: dict[str, object] = client.get(f"{TASKS}/{task_id}").json()["task"]
        if task["taskState"] == "COMPLETE":
            return task
        time.sleep(0.02)
    raise AssertionError("import task did not complete")


def test_basic_and_certificate_logins_give_tokens_and_bad_credentials_are_refused(sandbox_url: str) -> None:
    with httpx.Client(base_url=sandbox_url) as client:
        good = client.post("/token/authenticate", auth=(USER, PASSWORD))
        assert good.status_code == 201
        body = good.json()
        assert body["status"] == "SUCCESS"
        assert body["statusMessage"] == "Login successful"
        info = body["tokenInfo"]
        assert {"tokenId", "tokenValue", "expiresAt", "refreshTokenId"} <= set(info)
        # 35 minutes, in epoch milliseconds
        assert abs(info["expiresAt"] - (time.time() + 2100) * 1000) < 10_000
        bad = client.post("/token/authenticate", auth=(USER, "wrong"))
        assert bad.status_code == 401
        assert bad.json()["status"] == "FAILURE_BAD_CREDENTIAL"
        cert = client.post(
            "/token/authenticate",
            headers={"Authorization": "CACertificate LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"},
            json={"encodedData": "cmFuZG9t", "encodedSignedData": "c2lnbmVk"},
        )
        assert cert.status_code == 201
        assert cert.json()["tokenInfo"]["tokenValue"]


def test_integration_api_needs_an_anaplan_auth_token(sandbox_url: str) -> None:
    with httpx.Client(base_url=sandbox_url) as client:
        token = login(client)
        assert client.get("/2/0/workspaces").status_code == 401
        bearer = client.get("/2/0/workspaces", headers={"Authorization": f"Bearer {token}"})
        assert bearer.status_code == 401
        assert bearer.json()["status"]["code"] == 401
        unknown = client.get("/2/0/workspaces", headers={"Authorization": "AnaplanAuthToken nope"})
        assert unknown.status_code == 401
        ok = client.get(f"{MODEL_PATH}/imports", headers={"Authorization": f"AnaplanAuthToken {token}"})
        assert ok.status_code == 200
        body = ok.json()
        assert body["status"] == {"code": 200, "message": "Success"}
        assert [i["id"] for i in body["imports"]] == [BOOKINGS_IMPORT_ID, ACTUALS_IMPORT_ID]


def test_token_expires_after_its_ttl_and_refresh_replaces_it() -> None:
    with serve_sandbox(token_ttl=0.6) as base, httpx.Client(base_url=base) as client:
        first = login(client)
        refreshed = client.post("/token/refresh", headers={"Authorization": f"AnaplanAuthToken {first}"})
        assert refreshed.status_code == 201
        second = refreshed.json()["tokenInfo"]["tokenValue"]
        assert second != first
        # the refreshed-away token is dead, the new one works
        assert client.get("/2/0/workspaces", headers={"Authorization": f"AnaplanAuthToken {first}"}).status_code == 401
        assert client.get("/2/0/workspaces", headers={"Authorization": f"AnaplanAuthToken {second}"}).status_code == 200
        time.sleep(0.7)
        expired = client.get("/2/0/workspaces", headers={"Authorization": f"AnaplanAuthToken {second}"})
        assert expired.status_code == 401
        too_late = client.post("/token/refresh", headers={"Authorization": f"AnaplanAuthToken {second}"})
        assert too_late.status_code == 401


def test_lists_page_with_limit_and_offset(api: httpx.Client) -> None:
    page = api.get(f"{MODEL_PATH}/files", params={"limit": 2, "offset": 1}).json()
    assert page["meta"]["paging"] == {"currentPageSize": 2, "offset": 1, "totalSize": 4}
    assert [f["id"] for f in page["files"]] == ["113000000001", BOOKINGS_EXPORT_ID]


def test_chunked_upload_accepts_plain_and_gzip_chunks_in_sequence(api: httpx.Client) -> None:
    begun = api.post(FILE, json={"id": BOOKINGS_FILE_ID, "chunkCount": -1})
    assert begun.json()["file"]["chunkCount"] == -1
    part1 = HEADER + "BK-1,US01,FIG-PLAT,2026-11,USD,100.00\r\n"
    part2 = "BK-2,US01,FIG-SUPP,2026-11,USD,20.50\r\n"
    assert api.put(f"{FILE}/chunks/0", content=part1.encode()).status_code == 204
    skipped = api.put(f"{FILE}/chunks/5", content=b"x")
    assert skipped.status_code == 400
    gz = api.put(
        f"{FILE}/chunks/1", content=gzip.compress(part2.encode()), headers={"Content-Type": "application/x-gzip"}
    )
    assert gz.status_code == 204
    done = api.post(f"{FILE}/complete", json={"id": BOOKINGS_FILE_ID, "chunkCount": -1})
    assert done.status_code == 200
    assert done.json()["file"]["chunkCount"] == 2
    assert api.get(f"{FILE}/chunks/0").content == (part1 + part2).encode()
    broken = api.put(f"{FILE}/chunks/0", content=b"not gzip", headers={"Content-Type": "application/x-gzip"})
    assert broken.status_code == 400


def test_import_task_moves_through_its_states_and_lands_cells() -> None:
    with serve_sandbox(task_delay=0.6) as base, httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        upload(client, HEADER + "BK-7,DE01,FIG-PLAT,2026-11,EUR,12000.00\r\n")
        started = client.post(TASKS, json={"localeName": "en_US"}).json()["task"]
        assert started["taskState"] == "NOT_STARTED"
        assert started["taskId"]
        url = f"{TASKS}/{started['taskId']}"
        assert client.get(url).json()["task"]["taskState"] == "NOT_STARTED"
        assert cells(base, entity="DE01", period="2026-11") == []
        time.sleep(0.35)
        assert client.get(url).json()["task"]["taskState"] == "IN_PROGRESS"
        time.sleep(0.3)
        task = client.get(url).json()["task"]
        assert task["taskState"] == "COMPLETE"
        assert task["result"]["successful"] is True
        assert task["result"]["failureDumpAvailable"] is False
        assert cells(base, entity="DE01", period="2026-11") == [
            {
                "booking_code": "BK-7",
                "entity": "DE01",
                "product": "FIG-PLAT",
                "period": "2026-11",
                "currency": "EUR",
                "amount": "12000.00",
            }
        ]


def test_second_task_on_a_busy_model_is_409() -> None:
    with serve_sandbox(task_delay=0.5) as base, httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        upload(client, HEADER + "BK-1,US01,FIG-PLAT,2026-11,USD,1.00\r\n")
        assert client.post(TASKS, json={"localeName": "en_US"}).status_code == 200
        busy = client.post(TASKS, json={"localeName": "en_US"})
        assert busy.status_code == 409
        assert "busy" in busy.json()["status"]["message"]
        export = client.post(f"{MODEL_PATH}/exports/{BOOKINGS_EXPORT_ID}/tasks", json={"localeName": "en_US"})
        assert export.status_code == 409
        time.sleep(0.55)
        assert client.post(TASKS, json={"localeName": "en_US"}).status_code == 200


def test_rejected_rows_are_counted_and_dumped_with_reasons(api: httpx.Client, sandbox_url: str) -> None:
    task = run_import(
        api,
        HEADER
        + "BK-1,US01,FIG-PLAT,2026-11,USD,100.00\r\n"
        + "BK-2,XX01,FIG-PLAT,2026-11,USD,5.00\r\n"
        + "BK-3,US01,FIG-NOPE,2026-11,USD,5.00\r\n"
        + "BK-4,US01,FIG-PLAT,2026-13,USD,5.00\r\n"
        + "BK-5,US01,FIG-PLAT,2026-11,USD,1e3\r\n",
    )
    result = task["result"]
    assert isinstance(result, dict)
    assert result["successful"] is False
    assert result["failureDumpAvailable"] is True
    assert result["objectId"] == BOOKINGS_IMPORT_ID
    counts = {d["type"]: d["occurrences"] for d in result["details"]}
    assert counts["successRowCount"] == 1
    assert counts["failedCount"] == 4
    dump_url = f"{TASKS}/{task['taskId']}/dump"
    assert api.get(f"{dump_url}/chunks").json()["chunks"] == [{"id": "0", "name": "Chunk 0"}]
    dump = api.get(f"{dump_url}/chunks/0").text.splitlines()
    assert dump[0] == "_Line_,_Error_1_,Booking Code,Entity,Product,Period,Currency,Amount"
    assert [line.split(",")[0] for line in dump[1:]] == ["3", "4", "5", "6"]
    assert "XX01" in dump[1]
    assert "is not an item of list E1" in dump[1]
    assert "P1 Products" in dump[2]
    assert "expected YYYY-MM" in dump[3]
    assert "Invalid number '1e3'" in dump[4]
    assert [c["booking_code"] for c in cells(sandbox_url, period="2026-11")] == ["BK-1"]
    # the next error-free run of the import removes the dump
    run_import(api, HEADER + "BK-1,US01,FIG-PLAT,2026-11,USD,100.00\r\n")
    assert api.get(f"{dump_url}/chunks").status_code == 404
    assert api.get(f"{dump_url}/chunks/0").status_code == 404


def test_reimport_overwrites_the_same_cells(api: httpx.Client, sandbox_url: str) -> None:
    before = len(cells(sandbox_url))
    run_import(api, HEADER + "BK-9,GB01,FIG-SUPP,2026-11,GBP,3000.00\r\n")
    run_import(api, HEADER + "BK-9,GB01,FIG-SUPP,2026-11,GBP,3100.00\r\n")
    rows = cells(sandbox_url, entity="GB01", period="2026-11")
    assert [(r["booking_code"], r["amount"]) for r in rows] == [("BK-9", "3100.00")]
    assert len(cells(sandbox_url)) == before + 1


def test_a_file_whose_header_does_not_match_fails_as_a_whole(api: httpx.Client) -> None:
    task = run_import(api, "Code,Entity,Amount\r\nBK-1,US01,1.00\r\n")
    result = task["result"]
    assert isinstance(result, dict)
    assert result["successful"] is False
    assert result["failureDumpAvailable"] is False
    assert "do not match" in result["details"][0]["localMessageText"]


def test_export_reads_the_committed_bookings_back_as_csv(api: httpx.Client) -> None:
    run_import(api, HEADER + "BK-1,US01,FIG-PLAT,2026-11,USD,0.10\r\n")
    started = api.post(f"{MODEL_PATH}/exports/{BOOKINGS_EXPORT_ID}/tasks", json={"localeName": "en_US"})
    task_id = started.json()["task"]["taskId"]
    time.sleep(0.06)
    task = api.get(f"{MODEL_PATH}/exports/{BOOKINGS_EXPORT_ID}/tasks/{task_id}").json()["task"]
    assert task["taskState"] == "COMPLETE"
    assert task["result"]["successful"] is True
    chunks = api.get(f"{MODEL_PATH}/files/{BOOKINGS_EXPORT_ID}/chunks").json()["chunks"]
    content = b"".join(api.get(f"{MODEL_PATH}/files/{BOOKINGS_EXPORT_ID}/chunks/{c['id']}").content for c in chunks)
    lines = content.decode().splitlines()
    assert lines[0] == HEADER.strip()
    assert "BK-1,US01,FIG-PLAT,2026-11,USD,0.10" in lines
    assert "SO-SEED-1002,DE01,FIG-SERV,2026-10,EUR,15000.00" in lines


def test_faults_hit_the_next_matching_calls_only(api: httpx.Client, sandbox_url: str) -> None:
    arm(sandbox_url, path="*/imports", method="GET", kind="throttle", times=2)
    arm(sandbox_url, path="/2/0/workspaces", kind="malformed")
    arm(sandbox_url, path="*/exports", kind="error", status=503)
    assert api.get(f"{MODEL_PATH}/imports").status_code == 429
    assert api.get(f"{MODEL_PATH}/imports").status_code == 429
    assert api.get(f"{MODEL_PATH}/imports").status_code == 200
    malformed = api.get("/2/0/workspaces")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        malformed.json()
    assert api.get(f"{MODEL_PATH}/exports").status_code == 503
    arm(sandbox_url, path="*/exports", method="GET", kind="latency", latency_ms=300)
    started = time.monotonic()
    assert api.get(f"{MODEL_PATH}/exports").status_code == 200
    assert time.monotonic() - started >= 0.3
    arm(sandbox_url, path="*/files", kind="expired_token")
    assert api.get(f"{MODEL_PATH}/files").status_code == 401
    # the injected expiry is real: the same token keeps failing
    assert api.get(f"{MODEL_PATH}/imports").status_code == 401


def test_state_survives_a_restart_from_data_dir(tmp_path: Path) -> None:
    with serve_sandbox(data_dir=str(tmp_path)) as base, httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        run_import(client, HEADER + "BK-P,US01,FIG-SERV,2026-12,USD,777.77\r\n")
    assert (tmp_path / "anaplan-sandbox.json").exists()
    with serve_sandbox(data_dir=str(tmp_path)) as base:
        assert [c["amount"] for c in cells(base, period="2026-12")] == ["777.77"]
        httpx.post(f"{base}/__admin/reset").raise_for_status()
        assert cells(base, period="2026-12") == []


def test_an_upload_announced_with_its_chunk_count_completes_with_its_last_chunk(api: httpx.Client) -> None:
    part1 = HEADER + "BK-31,US01,FIG-PLAT,2026-11,USD,100.00\r\n"
    part2 = "BK-32,US01,FIG-SUPP,2026-11,USD,20.50\r\n"
    begun = api.post(FILE, json={"id": BOOKINGS_FILE_ID, "chunkCount": 2})
    assert begun.status_code == 200
    assert begun.json()["file"]["chunkCount"] == 2
    assert api.put(f"{FILE}/chunks/0", content=part1.encode()).status_code == 204
    beyond = api.put(f"{FILE}/chunks/2", content=b"x")
    assert beyond.status_code == 400
    gz = {"Content-Type": "application/x-gzip"}
    assert api.put(f"{FILE}/chunks/1", content=gzip.compress(part2.encode()), headers=gz).status_code == 204
    assert api.get(FILE).content == (part1 + part2).encode()
    [listed] = [f for f in api.get(f"{MODEL_PATH}/files").json()["files"] if f["id"] == BOOKINGS_FILE_ID]
    assert listed["chunkCount"] == 2
    late = api.post(f"{FILE}/complete", json={"id": BOOKINGS_FILE_ID})
    assert late.status_code == 400  # nothing left to complete
    task_id = api.post(TASKS, json={"localeName": "en_US"}).json()["task"]["taskId"]
    deadline = time.monotonic() + 5
    while (task := api.get(f"{TASKS}/{task_id}").json()["task"])["taskState"] != "COMPLETE":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert task["result"]["successful"] is True
    codes = [c["booking_code"] for c in cells(str(api.base_url), entity="US01", period="2026-11")]
    assert {"BK-31", "BK-32"} <= set(codes)


def test_an_import_of_an_unfinished_upload_fails_and_never_reruns_the_previous_file(api: httpx.Client) -> None:
    first = run_import(api, HEADER + "BK-41,GB01,FIG-PLAT,2026-11,GBP,10.00\r\n")
    assert first["result"]["successful"] is True  # type: ignore[index]
    for announced in (2, -1):
        assert api.post(FILE, json={"id": BOOKINGS_FILE_ID, "chunkCount": announced}).status_code == 200
        changed = HEADER + "BK-41,GB01,FIG-PLAT,2026-11,GBP,99.00\r\n"
        assert api.put(f"{FILE}/chunks/0", content=changed.encode()).status_code == 204
        refused = api.post(TASKS, json={"localeName": "en_US"})
        assert refused.status_code == 400, refused.text
        status = refused.json()["status"]
        assert status["code"] == 400
        assert "not complete" in status["message"]
        assert f"Import {BOOKINGS_IMPORT_ID}" in status["message"]
    [cell] = [c for c in cells(str(api.base_url), entity="GB01", period="2026-11") if c["booking_code"] == "BK-41"]
    assert cell["amount"] == "10.00"  # the old rows were not imported again, the new ones not yet


def test_begin_upload_refuses_a_missing_or_impossible_chunk_count(api: httpx.Client) -> None:
    for body in ({}, {"chunkCount": 0}, {"chunkCount": "2"}, {"chunkCount": 1001}, {"chunkCount": True}):
        refused = api.post(FILE, json=body)
        assert refused.status_code == 400, body
        assert "chunkCount" in refused.json()["status"]["message"]


def test_workspaces_models_processes_and_actions_answer_with_the_documented_fields(api: httpx.Client) -> None:
    workspace = api.get(f"/2/0/workspaces/{WORKSPACE_ID}").json()["item"]
    assert set(workspace) >= {"id", "name", "active", "sizeAllowance", "currentSize"}
    models = api.get("/2/0/models").json()
    assert [m["id"] for m in models["models"]] == [MODEL_ID]
    assert models["meta"]["paging"]["totalSize"] == 1
    model = api.get(f"/2/0/models/{MODEL_ID}").json()["model"]
    assert set(model) >= {"id", "name", "activeState", "currentWorkspaceId", "currentWorkspaceName", "modelUrl"}
    assert model["currentWorkspaceId"] == WORKSPACE_ID
    assert api.get(MODEL_PATH).json()["model"]["id"] == MODEL_ID
    unknown = api.get("/2/0/models/0000000000000000000000000000000A")
    assert unknown.status_code == 404
    assert unknown.json()["status"]["code"] == 404
    assert api.get("/2/0/workspaces/nope").status_code == 404
    for kind in ("processes", "actions"):
        listed = api.get(f"{MODEL_PATH}/{kind}")
        assert listed.status_code == 200, kind
        assert listed.json()[kind] == []
    assert api.get("/2/0/models", params={"modelDetails": "true"}).status_code == 200
    unknown_parameter = api.get(f"{MODEL_PATH}/files", params={"showImportDataSource": "true"})
    assert unknown_parameter.status_code == 400
    assert "showImportDataSource" in unknown_parameter.json()["status"]["message"]


def test_chunks_of_an_announced_upload_may_arrive_in_any_order(api: httpx.Client) -> None:
    """As clients that upload chunks in parallel send them: the file is the chunks in number order."""
    parts = [HEADER + "BK-51,US01,FIG-PLAT,2026-11,USD,1.00\r\n", "BK-52,US01,FIG-PLAT,2026-11,USD,2.00\r\n",
             "BK-53,US01,FIG-PLAT,2026-11,USD,3.00\r\n"]  # fmt: skip
    assert api.post(FILE, json={"chunkCount": 3}).status_code == 200
    for number in (2, 0):
        assert api.put(f"{FILE}/chunks/{number}", content=parts[number].encode()).status_code == 204
    refused = api.post(TASKS, json={"localeName": "en_US"})
    assert refused.status_code == 400
    assert "2 of 3 chunks" in refused.json()["status"]["message"]
    assert api.put(f"{FILE}/chunks/1", content=parts[1].encode()).status_code == 204
    assert api.get(FILE).content == "".join(parts).encode()
