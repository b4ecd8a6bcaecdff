"""Each vendor sandbox keeps every acknowledged write when its process is SIGKILLed.

The sandbox runs in a child process (`sandbox_child.py`); after the writes were answered the
child gets SIGKILL (no shutdown hook, no compaction), and a fresh sandbox on the same data
directory must show them: they survive through the journal alone, not through a snapshot.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import httpx

from servicekit.redis import free_port
from tests.support import running_server
from tests.system_apis.crm.support import token_for
from tests.system_apis.erp.conftest import bearer
from tests.system_apis.planning.helpers import cells, login
from tests.system_apis.planning.test_sandbox import HEADER, TASKS, run_import
from tests.system_apis.sandbox_child import build

ROOT = Path(__file__).resolve().parents[2]
SF = "/services/data/v62.0"
NS = "/services/rest/record/v1"


@contextmanager
def killed_afterwards(kind: str, data_dir: Path) -> Iterator[str]:
    """A sandbox in a child process; yields its URL, then SIGKILLs it (and waits for it to be gone)."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.system_apis.sandbox_child", kind, str(data_dir), str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert child.poll() is None, "sandbox child exited"
            assert time.monotonic() < deadline, "sandbox child did not start"
            time.sleep(0.05)
        yield base
    finally:
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL


def _decimal_json(response: httpx.Response) -> dict[str, object]:
    body: dict[str, object] = json.loads(response.content, parse_float=Decimal)
    return body


def test_netsuite_keeps_acknowledged_writes_through_a_sigkill(tmp_path: Path) -> None:
    with killed_afterwards("netsuite", tmp_path) as base:
        headers = {**bearer(base), "Content-Type": "application/json"}
        # Raw JSON: the amount must reach the sandbox as the number 1234.10, never via a float.
        body = b'{"companyName": "Crash Proof GmbH", "subsidiary": {"id": "2"}, "creditLimit": 1234.10}'
        httpx.put(f"{base}{NS}/customer/eid:SF-CRASH", content=body, headers=headers).raise_for_status()
        customer_id = httpx.get(f"{base}{NS}/customer/eid:SF-CRASH", headers=headers).json()["id"]
        order = (
            b'{"entity": {"id": "%s"}, "item": {"items": [{"item": {"id": "101"}, "quantity": 3, "rate": 1199.995}]}}'
            % customer_id.encode()
        )
        httpx.put(f"{base}{NS}/salesOrder/eid:SF-CRASH-SO", content=order, headers=headers).raise_for_status()
        order_id = httpx.get(f"{base}{NS}/salesOrder/eid:SF-CRASH-SO", headers=headers).json()["id"]
        httpx.post(f"{base}/__admin/sales-orders/{order_id}/approve").raise_for_status()
        httpx.post(f"{base}/__admin/periods/2/2026-11/close").raise_for_status()
    # The writes are in the journal only: the snapshot is the one written at start.
    assert b"SF-CRASH" not in (tmp_path / "netsuite.json").read_bytes()
    assert b"SF-CRASH" in (tmp_path / "netsuite.journal").read_bytes()
    with running_server(build("netsuite", str(tmp_path))) as base:
        headers = bearer(base)
        customer = _decimal_json(httpx.get(f"{base}{NS}/customer/eid:SF-CRASH", headers=headers))
        assert customer["companyName"] == "Crash Proof GmbH"
        assert str(customer["creditLimit"]) == "1234.10"
        order_body = _decimal_json(
            httpx.get(f"{base}{NS}/salesOrder/{order_id}?expandSubResources=true", headers=headers)
        )
        assert order_body["orderStatus"] == {"id": "B", "refName": "Pending Fulfillment"}
        assert order_body["total"] == Decimal("3599.985")
        period = httpx.get(f"{base}{NS}/accountingPeriod/211", headers=headers).json()
        assert (period["periodName"], period["closed"]) == ("2026-11", True)
        # Ids continue after the replayed ones instead of being handed out twice.
        httpx.put(
            f"{base}{NS}/customer/eid:SF-AFTER",
            json={"companyName": "Next", "subsidiary": {"id": "1"}},
            headers=headers,
        ).raise_for_status()
        after = httpx.get(f"{base}{NS}/customer/eid:SF-AFTER", headers=headers).json()["id"]
        assert int(after) == int(customer_id) + 1


def test_salesforce_keeps_acknowledged_writes_through_a_sigkill(tmp_path: Path) -> None:
    with killed_afterwards("salesforce", tmp_path) as base:
        headers = {"Authorization": f"Bearer {token_for(base)}", "Content-Type": "application/json"}
        created = httpx.post(f"{base}{SF}/sobjects/Account", headers=headers, content=b'{"Name": "Crash Proof Ltd"}')
        account_id = created.json()["id"]
        update = b'{"Amount": 15000.50, "Name": "Rheinwerk - after crash"}'
        patched = httpx.patch(f"{base}{SF}/sobjects/Opportunity/0068d00000DEMO1AAA", headers=headers, content=update)
        assert patched.status_code == 204
        httpx.post(f"{base}/__admin/opportunities/0068d00000DEMO1AAA/close-won").raise_for_status()
    assert b"Crash Proof Ltd" not in (tmp_path / "salesforce.json").read_bytes()
    with running_server(build("salesforce", str(tmp_path))) as base:
        headers = {"Authorization": f"Bearer {token_for(base)}"}
        account = httpx.get(f"{base}{SF}/sobjects/Account/{account_id}", headers=headers).json()
        assert account["Name"] == "Crash Proof Ltd"
        opportunity = _decimal_json(httpx.get(f"{base}{SF}/sobjects/Opportunity/0068d00000DEMO1AAA", headers=headers))
        assert opportunity["Name"] == "Rheinwerk - after crash"
        assert str(opportunity["Amount"]) == "15000.50"
        assert (opportunity["StageName"], opportunity["IsWon"]) == ("Closed Won", True)
        assert opportunity["Approval_Status__c"] == "Approved"


def test_anaplan_keeps_an_executed_import_through_a_sigkill(tmp_path: Path) -> None:
    with killed_afterwards("anaplan", tmp_path) as base, httpx.Client(base_url=base) as client:
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        task = run_import(
            client, HEADER + "BK-KILL,DE01,FIG-PLAT,2026-12,EUR,1200.10\r\nBK-BAD,XX01,FIG-PLAT,2026-12,EUR,1\r\n"
        )
        assert task["result"]["failureDumpAvailable"] is True  # type: ignore[index]
        task_id = task["taskId"]
    with running_server(build("anaplan", str(tmp_path))) as base, httpx.Client(base_url=base) as client:
        assert [(c["booking_code"], c["amount"]) for c in cells(base, period="2026-12")] == [("BK-KILL", "1200.10")]
        client.headers["Authorization"] = f"AnaplanAuthToken {login(client)}"
        kept = client.get(f"{TASKS}/{task_id}").json()["task"]
        assert kept["taskState"] == "COMPLETE"
        assert kept["result"]["failureDumpAvailable"] is True
        dump = client.get(f"{TASKS}/{task_id}/dump/chunks/0")
        assert dump.status_code == 200
        assert "XX01" in dump.text
