"""The Anaplan sandbox's persistence: snapshot + journal, replay, torn lines, compaction."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from system_apis.planning.sandbox import AnaplanSandboxSettings
from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.seed import BOOKINGS_FILE_ID, BOOKINGS_IMPORT_ID, MODEL_ID
from system_apis.planning.sandbox.store import Store

JOURNAL = "anaplan-sandbox.journal"
HEADER = b"Booking Code,Entity,Product,Period,Currency,Amount\r\n"


def _start(tmp_path: Path) -> Store:
    return Store(AnaplanSandboxSettings(data_dir=str(tmp_path), task_delay=0.01))


def _abrupt_stop(store: Store) -> None:
    assert store.journal is not None
    store.journal.close()


def _import(store: Store, rows: bytes) -> str:
    store.begin_upload(MODEL_ID, BOOKINGS_FILE_ID, -1)
    store.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 0, HEADER)
    store.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 1, rows)
    store.complete_upload(MODEL_ID, BOOKINGS_FILE_ID)
    task = store.start_task(MODEL_ID, "import", BOOKINGS_IMPORT_ID)
    time.sleep(0.02)
    store.advance()
    assert task.result is not None
    return task.task_id


def _amounts(store: Store, period: str) -> dict[str, str]:
    return {c.booking_code: c.amount for c in store.state.cube.booking_rows(period=period)}


def test_an_executed_import_and_its_dump_are_replayed_after_an_abrupt_stop(tmp_path: Path) -> None:
    store = _start(tmp_path)
    token = store.issue_token("fig.integration@example.com")
    first = _import(store, b"BK-J1,US01,FIG-PLAT,2026-12,USD,100.10\r\nBK-X,ZZ01,FIG-PLAT,2026-12,USD,1\r\n")
    second = _import(store, b"BK-J1,US01,FIG-PLAT,2026-12,USD,200.20\r\nBK-Y,ZZ01,FIG-PLAT,2026-12,USD,1\r\n")
    store.set_published("107000000001", True)
    _abrupt_stop(store)

    again = _start(tmp_path)
    assert _amounts(again, "2026-12") == {"BK-J1": "200.20"}  # the later import overwrote the cell
    assert again.valid_token(token.value) is not None
    assert again.state.tasks[second].result == store.state.tasks[second].result
    # One dump per import: the second run's dump replaced the first one's.
    assert set(again.state.dumps) == {second}
    assert first not in again.state.dumps
    assert again.state.versions == store.state.versions
    assert again.state.files == store.state.files
    assert (tmp_path / JOURNAL).read_bytes().count(b"\n") == 1  # compacted at start


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store = _start(tmp_path)
    _import(store, b"BK-T,DE01,FIG-SUPP,2026-12,EUR,5.00\r\n")
    _abrupt_stop(store)
    with (tmp_path / JOURNAL).open("ab") as journal:
        journal.write(b'{"bookings":[{"booking_code":"BK-TORN","entity":"DE01"')

    assert _amounts(_start(tmp_path), "2026-12") == {"BK-T": "5.00"}


def test_a_clean_close_leaves_only_the_snapshot(tmp_path: Path) -> None:
    store = _start(tmp_path)
    _import(store, b"BK-C,GB01,FIG-SERV,2026-12,GBP,7.70\r\n")
    store.close()
    assert not (tmp_path / JOURNAL).exists()
    assert _amounts(_start(tmp_path), "2026-12") == {"BK-C": "7.70"}


def test_an_upload_of_announced_length_survives_an_abrupt_stop_and_completes_with_its_last_chunk(
    tmp_path: Path,
) -> None:
    store = _start(tmp_path)
    store.begin_upload(MODEL_ID, BOOKINGS_FILE_ID, 2)
    store.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 0, HEADER)
    _abrupt_stop(store)

    again = _start(tmp_path)
    with pytest.raises(AnaplanError, match="not complete"):
        again.start_task(MODEL_ID, "import", BOOKINGS_IMPORT_ID)
    again.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 1, b"BK-J9,US01,FIG-PLAT,2026-12,USD,9.90\r\n")
    _abrupt_stop(again)

    third = _start(tmp_path)
    stored = third.file(MODEL_ID, BOOKINGS_FILE_ID)
    assert (stored.chunk_count, stored.uploading) == (2, False)
    assert stored.content == HEADER + b"BK-J9,US01,FIG-PLAT,2026-12,USD,9.90\r\n"


def test_chunks_that_arrived_ahead_are_replayed_in_their_place(tmp_path: Path) -> None:
    store = _start(tmp_path)
    store.begin_upload(MODEL_ID, BOOKINGS_FILE_ID, 3)
    store.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 2, b"C")
    store.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 0, b"A")
    _abrupt_stop(store)

    again = _start(tmp_path)
    again.put_chunk(MODEL_ID, BOOKINGS_FILE_ID, 1, b"B")
    assert again.file(MODEL_ID, BOOKINGS_FILE_ID).content == b"ABC"
