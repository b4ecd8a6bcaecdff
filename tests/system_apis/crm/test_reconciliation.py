"""`GET /v1/opportunities?won=&close_period=&region=`: closed-won deals of a period, for reconciliation."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from system_apis.crm import create_app
from system_apis.crm.sandbox.seed import seed_tables
from tests.system_apis.crm.support import SandboxAdmin, crm_settings
from tests.tokens import TestIssuer

SEED = seed_tables()  # the sandbox's default seed: the oracle the API is checked against


@pytest.fixture
async def api(redis_url: str, sandbox: str, issuer: tuple[TestIssuer, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(crm_settings(redis_url, sandbox, issuer))
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {issuer[0].mint(['crm:read'])}"
        yield client


def _expected(period: str, region: str | None = None) -> list[str]:
    return sorted(
        o["Id"]
        for o in SEED["Opportunity"].values()
        if o["IsWon"] and o["CloseDate"].startswith(period) and region in (None, o["Region__c"])
    )


async def _walk(api: AsyncTestClient[Any], **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    query = dict(params)
    while True:
        response = await api.get("/v1/opportunities", params=query)
        assert response.status_code == 200, response.text
        pages += 1
        page = response.json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items, pages
        query = {**params, "cursor": page["next_cursor"]}


def _busiest(region: str | None = None) -> str:
    won = Counter(
        o["CloseDate"][:7] for o in SEED["Opportunity"].values() if o["IsWon"] and region in (None, o["Region__c"])
    )
    return str(won.most_common(1)[0][0])


async def test_closed_won_in_a_period_pages_in_id_order(api: AsyncTestClient[Any]) -> None:
    period = _busiest()
    expected = _expected(period)
    assert len(expected) >= 4
    items, pages = await _walk(api, won="true", close_period=period, limit=2)
    assert [o["id"] for o in items] == expected
    assert pages == -(-len(expected) // 2)  # an exact fit ends without an empty page
    assert all(o["is_won"] and o["close_date"].startswith(period) for o in items)
    assert all(o["lines"] for o in items)


async def test_region_narrows_the_period(api: AsyncTestClient[Any]) -> None:
    period = _busiest("DACH")
    items, _ = await _walk(api, won="true", close_period=period, region="DACH", limit=50)
    assert [o["id"] for o in items] == _expected(period, "DACH") != []
    assert {o["region"] for o in items} == {"DACH"}
    assert {o["amount"]["currency"] for o in items} == {"EUR"}


async def test_a_deal_won_during_the_walk_is_neither_repeated_nor_shifts_others(
    api: AsyncTestClient[Any], admin: SandboxAdmin
) -> None:
    # The demo deal closes 2026-11-30; once close-won it belongs to November's DACH reconciliation.
    before, _ = await _walk(api, won="true", close_period="2026-11", region="DACH")
    assert "0068d00000DEMO1AAA" not in [o["id"] for o in before]
    first = await api.get("/v1/opportunities", params={"won": "true", "close_period": "2026-11", "limit": 1})
    admin.close_won("0068d00000DEMO1AAA")
    rest, _ = await _walk(api, won="true", close_period="2026-11", cursor=first.json()["next_cursor"])
    ids = [o["id"] for o in first.json()["items"] + rest]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted([*_expected("2026-11"), "0068d00000DEMO1AAA"])


async def test_filters_combine_with_changed_since(api: AsyncTestClient[Any], admin: SandboxAdmin) -> None:
    all_won, _ = await _walk(api, won="true", changed_since="2000-01-01T00:00:00Z", limit=40)
    assert len(all_won) == sum(o["IsWon"] for o in SEED["Opportunity"].values())
    stamps = [o["last_modified"] for o in all_won]
    assert stamps == sorted(stamps)
    admin.close_won("0068d00000DEMO1AAA")
    recent, _ = await _walk(api, won="true", region="DACH", changed_since=stamps[-1])
    assert [o["id"] for o in recent] == ["0068d00000DEMO1AAA"]


async def test_bad_filters_and_foreign_cursors_are_400(api: AsyncTestClient[Any]) -> None:
    for params in ({"close_period": "2026-13"}, {"close_period": "2026-1"}, {"region": "EMEA"}, {"won": "maybe"}):
        response = await api.get("/v1/opportunities", params=params)
        assert response.status_code == 400, params
    changes = await api.get("/v1/opportunities", params={"limit": 1})
    mixed = await api.get("/v1/opportunities", params={"won": "true", "cursor": changes.json()["next_cursor"]})
    assert mixed.status_code == 200  # a changes cursor continues the changes walk, filtered
    filtered = await api.get("/v1/opportunities", params={"won": "true", "close_period": "2026-12", "limit": 1})
    foreign = await api.get(
        "/v1/opportunities", params={"changed_since": "2020-01-01T00:00:00Z", "cursor": filtered.json()["next_cursor"]}
    )
    assert foreign.status_code == 200  # an id cursor continues the id walk; changed_since cannot restart it
    assert foreign.json()["items"][0]["id"] > filtered.json()["items"][0]["id"]
    assert (await api.get("/v1/opportunities", params={"cursor": "aWR8bm9wZQ"})).status_code == 400
