"""The run explorer's step timings: the time from each gate to the next, in a unit a person reads."""

from __future__ import annotations

from experience.pages.runs import gate_durations


def test_each_gate_shows_the_time_since_the_one_before() -> None:
    gates = [
        {"gate": "received", "at": "2026-12-05T10:00:00.000Z"},
        {"gate": "validated", "at": "2026-12-05T10:00:00.042Z"},
        {"gate": "order_created", "at": "2026-12-05T10:00:12.500Z"},
        {"gate": "order_booked", "at": "2026-12-05T12:00:12.500Z"},
    ]
    assert gate_durations(gates) == ["", "42 ms", "12.5 s", "120 min"]
