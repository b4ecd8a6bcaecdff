"""Benchmark volumes: `FIG_SCALE=50` builds a 10,000-opportunity org quickly; paging holds at scale."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from servicekit.settings import load_settings
from system_apis.crm import create_app
from system_apis.crm.sandbox import SalesforceSandboxSettings
from system_apis.crm.sandbox import create_app as create_sandbox
from system_apis.crm.sandbox.state import SandboxState
from tests.support import running_server
from tests.system_apis.crm.support import crm_settings
from tests.tokens import TestIssuer

SCALE = 5


def test_fig_scale_50_builds_ten_thousand_opportunities_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIG_SCALE", "50")
    settings = load_settings(SalesforceSandboxSettings)
    started = time.monotonic()
    counts = SandboxState(settings).store.counts()
    elapsed = time.monotonic() - started
    assert counts["Opportunity"] == 10_002
    assert counts["Account"] == 2_502
    assert counts["OpportunityLineItem"] >= 10_002
    assert elapsed < 15, f"seeding scale 50 took {elapsed:.1f}s"  # ~1 s on the dev box


@pytest.fixture(scope="module")
def scaled_sandbox() -> Iterator[str]:
    with running_server(create_sandbox(SalesforceSandboxSettings(scale=SCALE))) as base:
        yield base


@pytest.fixture
async def api(
    redis_url: str, scaled_sandbox: str, issuer: tuple[TestIssuer, str]
) -> AsyncIterator[AsyncTestClient[Any]]:
    # 2000-record query pages, as a benchmark run would ask for.
    app = create_app(crm_settings(redis_url, scaled_sandbox, issuer, sf_batch_size=2000))
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {issuer[0].mint(['crm:read'])}"
        yield client


async def test_paging_walks_a_scaled_org_exactly_once(api: AsyncTestClient[Any]) -> None:
    ids: list[str] = []
    stamps: list[str] = []
    params: dict[str, Any] = {"limit": 200}
    pages = 0
    while True:
        response = await api.get("/v1/opportunities", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        ids += [o["id"] for o in page["items"]]
        stamps += [o["last_modified"] for o in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 200, "cursor": page["next_cursor"]}
    assert len(ids) == len(set(ids)) == 200 * SCALE + 2
    assert pages == -(-len(ids) // 200)
    assert stamps == sorted(stamps)
