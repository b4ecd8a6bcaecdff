"""The Salesforce sandbox's persistence: snapshot + journal, replay, torn lines, compaction, Decimals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from system_apis.crm.sandbox import SalesforceSandboxSettings
from system_apis.crm.sandbox.state import SandboxState
from system_apis.crm.sandbox.store import OrgStore

DEMO1 = "0068d00000DEMO1AAA"
JOURNAL = "salesforce.journal"
SNAPSHOT = "salesforce.json"


def _start(tmp_path: Path) -> OrgStore:
    return SandboxState(SalesforceSandboxSettings(data_dir=str(tmp_path))).store


def _abrupt_stop(store: OrgStore) -> None:
    """What a killed process leaves: the journal as written, no compaction."""
    assert store.journal is not None
    store.journal.close()


def test_writes_are_replayed_after_an_abrupt_stop_with_exact_decimals(tmp_path: Path) -> None:
    store = _start(tmp_path)
    updated = store.update("Opportunity", DEMO1, {"Amount": Decimal("14400.10"), "StageName": "Closed Won"})
    account = store.insert("Account", {"Name": "Journal GmbH", "Credit_Limit__c": 5000})
    sequence = store.sequence
    _abrupt_stop(store)
    assert b"Journal GmbH" not in (tmp_path / SNAPSHOT).read_bytes()

    again = _start(tmp_path)
    opportunity = again.get("Opportunity", DEMO1)
    assert opportunity is not None
    assert opportunity["Amount"] == Decimal("14400.10")
    assert str(opportunity["Amount"]) == "14400.10"
    assert (opportunity["IsWon"], opportunity["SystemModstamp"]) == (True, updated["SystemModstamp"])
    kept = again.get("Account", account["Id"])
    assert kept is not None
    assert kept["Name"] == "Journal GmbH"
    assert isinstance(kept["Credit_Limit__c"], Decimal)  # a whole number comes back as Decimal, not int
    assert again.sequence == sequence  # new ids continue after the replayed ones
    assert (tmp_path / JOURNAL).read_bytes().count(b"\n") == 1  # compacted at start


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store = _start(tmp_path)
    store.update("Opportunity", DEMO1, {"Name": "Before the tear"})
    _abrupt_stop(store)
    with (tmp_path / JOURNAL).open("ab") as journal:
        journal.write(b'{"sequence":9,"sobject":"Opportunity","records":[{"Id":"0068d00000DEMO1AAA","Name":"Tor')

    again = _start(tmp_path)
    opportunity = again.get("Opportunity", DEMO1)
    assert opportunity is not None
    assert opportunity["Name"] == "Before the tear"


def test_bulk_close_won_is_one_journal_line_and_compaction_keeps_it(tmp_path: Path) -> None:
    store = _start(tmp_path)
    assert store.journal is not None
    ids = [r["Id"] for r in store.find("Opportunity", "StageName", "Prospecting")][:20]
    assert len(ids) == 20
    for record_id in ids:
        store.update("Opportunity", record_id, {"StageName": "Closed Won"}, persist=False)
    lines = (tmp_path / JOURNAL).read_bytes().count(b"\n")
    store.persist("Opportunity", [store.get("Opportunity", i) or {} for i in ids])
    assert (tmp_path / JOURNAL).read_bytes().count(b"\n") == lines + 1
    store.journal.max_bytes = 1  # the next write overflows the bound and compacts
    store.update("Opportunity", DEMO1, {"Name": "Compacted"})
    assert (tmp_path / JOURNAL).read_bytes().count(b"\n") == 1
    _abrupt_stop(store)

    again = _start(tmp_path)
    assert all((again.get("Opportunity", i) or {}).get("IsWon") is True for i in ids)
    assert (again.get("Opportunity", DEMO1) or {}).get("Name") == "Compacted"
