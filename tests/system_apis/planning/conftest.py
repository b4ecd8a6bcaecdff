"""Fixtures for the planning tests: one fast Anaplan sandbox per module, reset before each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient

from servicekit import create_http_client
from system_apis.planning import create_app
from system_apis.planning.connector import PlanningConnector
from tests.system_apis.planning.helpers import config, serve_sandbox, settings_for
from tests.tokens import TestIssuer


@pytest.fixture(scope="module")
def sandbox_module_url() -> Iterator[str]:
    with serve_sandbox() as base:
        yield base


@pytest.fixture
def sandbox_url(sandbox_module_url: str) -> str:
    """The module's sandbox (task_delay 0.05 s), back at its seed with no faults armed."""
    httpx.post(f"{sandbox_module_url}/__admin/reset").raise_for_status()
    return sandbox_module_url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with create_http_client("http://unused.invalid") as client:
        yield client


@pytest.fixture
def connector(sandbox_url: str, http: httpx.AsyncClient) -> PlanningConnector:
    """A connector on the module's sandbox, uploading in 64-byte chunks so loads span several chunks."""
    return PlanningConnector(config(sandbox_url, chunk_bytes=64), http)


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
def idp_url(issuer: TestIssuer) -> Iterator[str]:
    with issuer.serve() as url:
        yield url


@pytest.fixture
async def client(
    sandbox_url: str, redis_url: str, idp_url: str, issuer: TestIssuer
) -> AsyncIterator[AsyncTestClient[Any]]:
    """The planning system API in-process (lifespan run), on the module's sandbox."""
    async with AsyncTestClient(create_app(settings_for(sandbox_url, redis_url, idp_url, issuer))) as test_client:
        yield test_client
