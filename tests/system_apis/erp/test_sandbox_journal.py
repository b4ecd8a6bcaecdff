"""The NetSuite sandbox's persistence: snapshot + journal, replay, torn lines, compaction, Decimals."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx

from system_apis.erp.sandbox import SandboxSettings, create_app
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.store import PostingLine, Store
from system_apis.erp.sandbox.writes import apply_customer, apply_sales_order
from tests.support import running_server
from tests.system_apis.erp.conftest import bearer

JOURNAL = "netsuite.journal"
SNAPSHOT = "netsuite.json"


def _start(tmp_path: Path) -> Store:
    return SandboxRuntime.start(SandboxSettings(data_dir=str(tmp_path))).store


def _abrupt_stop(store: Store) -> None:
    """What a killed process leaves: the journal as written, no compaction (only the fd is released)."""
    assert store.journal is not None
    store.journal.close()


def _write_customer_and_order(store: Store, eid: str) -> tuple[str, str]:
    body = {"companyName": f"Journal {eid}", "subsidiary": {"id": "2"}, "creditLimit": Decimal("1000.10")}
    customer = apply_customer(store, body, None, eid)
    store.put_customer(customer)
    line = {"item": {"id": "102"}, "quantity": Decimal("3"), "rate": Decimal("0.10")}
    order = apply_sales_order(store, {"entity": {"id": customer.id}, "item": {"items": [line]}}, None, f"{eid}-SO")
    store.put_sales_order(order)
    return customer.id, order.id


def _posting(transaction: str) -> PostingLine:
    return PostingLine(
        transaction=transaction,
        line=1,
        subsidiary_id="1",
        period_id="111",
        account="4000",
        account_type="Income",
        debit=Decimal("0.00"),
        credit=Decimal("10.01"),
    )


def test_writes_are_replayed_from_the_journal_after_an_abrupt_stop_with_exact_decimals(tmp_path: Path) -> None:
    store = _start(tmp_path)
    customer_id, order_id = _write_customer_and_order(store, "SF-J1")
    store.add_posting(_posting("99001"))
    postings = len(store.state.postings)
    _abrupt_stop(store)
    assert b"SF-J1" not in (tmp_path / SNAPSHOT).read_bytes()

    again = _start(tmp_path)
    customer = again.customer("eid:SF-J1")
    assert customer is not None
    assert customer.id == customer_id
    assert customer.credit_limit == Decimal("1000.10")
    assert str(customer.credit_limit) == "1000.10"
    order = again.sales_order("eid:SF-J1-SO")
    assert order is not None
    assert order.id == order_id
    assert order.total == Decimal("0.30")
    assert isinstance(order.lines[0].rate, Decimal)
    assert len(again.state.postings) == postings
    assert again.state.postings[-1].credit == Decimal("10.01")
    # Start compacts: the replayed writes are in the new snapshot, the journal holds only its header.
    assert b"SF-J1" in (tmp_path / SNAPSHOT).read_bytes()
    assert (tmp_path / JOURNAL).read_bytes().count(b"\n") == 1
    # The id counters came back too: the next order gets the next id, not a replayed one.
    assert again.new_sales_order_ids()[0] == str(int(order_id) + 1)


def test_a_torn_last_line_is_ignored_and_the_lines_before_it_are_kept(tmp_path: Path) -> None:
    store = _start(tmp_path)
    _write_customer_and_order(store, "SF-J2")
    _abrupt_stop(store)
    with (tmp_path / JOURNAL).open("ab") as journal:
        journal.write(b'{"counters":[1,2,3],"customer":{"id":"77","company_name":"Tor')  # crash mid-write

    again = _start(tmp_path)
    assert again.customer("eid:SF-J2") is not None
    assert again.customer("77") is None
    assert again.sales_order("eid:SF-J2-SO") is not None


def test_an_already_compacted_journal_is_not_replayed_twice(tmp_path: Path) -> None:
    """A crash between the new snapshot's rename and the journal's truncation must not double a posting."""
    store = _start(tmp_path)
    store.add_posting(_posting("99002"))
    postings = len(store.state.postings)
    stale = (tmp_path / JOURNAL).read_bytes()
    store.save()  # new snapshot (holding the posting) under a new generation
    _abrupt_stop(store)
    (tmp_path / JOURNAL).write_bytes(stale)  # as if the truncation never happened

    assert len(_start(tmp_path).state.postings) == postings


def test_the_journal_is_compacted_when_it_outgrows_its_bound(tmp_path: Path) -> None:
    store = _start(tmp_path)
    assert store.journal is not None
    store.journal.max_bytes = 4_000
    for n in range(20):
        _write_customer_and_order(store, f"SF-C{n}")
        assert store.journal.size <= 4_000 + 2_000  # never more than the bound plus one entry
    assert b"SF-C10" in (tmp_path / SNAPSHOT).read_bytes()  # compacted at least once on the way
    _abrupt_stop(store)

    again = _start(tmp_path)
    assert all(again.sales_order(f"eid:SF-C{n}-SO") is not None for n in range(20))


def test_a_clean_shutdown_folds_the_journal_into_the_snapshot(tmp_path: Path) -> None:
    with running_server(create_app(SandboxSettings(data_dir=str(tmp_path)))) as base:
        body = {"companyName": "Clean", "subsidiary": {"id": "1"}}
        response = httpx.put(f"{base}/services/rest/record/v1/customer/eid:SF-CLEAN", json=body, headers=bearer(base))
        assert response.status_code == 204
        assert b"SF-CLEAN" in (tmp_path / JOURNAL).read_bytes()
    assert not (tmp_path / JOURNAL).exists()
    assert b"SF-CLEAN" in (tmp_path / SNAPSHOT).read_bytes()
    assert _start(tmp_path).customer("eid:SF-CLEAN") is not None
