"""Fixtures for the planning tests: one fast Anaplan sandbox per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.system_apis.planning.helpers import serve_sandbox


@pytest.fixture(scope="module")
def sandbox_module_url() -> Iterator[str]:
    with serve_sandbox() as base:
        yield base


@pytest.fixture
def sandbox_url(sandbox_module_url: str) -> str:
    """The module's sandbox (task_delay 0.05 s), back at its seed with no faults armed."""
    httpx.post(f"{sandbox_module_url}/__admin/reset").raise_for_status()
    return sandbox_module_url
