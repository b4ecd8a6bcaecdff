"""One whole stack (separate processes, free ports) for the contract suite and the client-on-stack tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_ports

#: Lines for the terminal summary: one per contract suite run (its schemathesis counts).
SUITE_COUNTS: list[str] = []


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    with Stack(Path(tmp_path_factory.mktemp("contract-stack")), ports=ports) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUITE_COUNTS:
        terminalreporter.section("contract suite (schemathesis)")
        for line in SUITE_COUNTS:
            terminalreporter.write_line(line)
