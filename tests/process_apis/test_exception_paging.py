"""Exception list paging stays inside its published bounds: a limit outside 1..500 is a 400 naming it."""

from __future__ import annotations

import pytest

from tests.process_apis.fake_systems import Systems
from tests.process_apis.support import process_api, settings_for


@pytest.mark.parametrize("limit", ["0", "-1", "501", "100000"])
async def test_a_limit_outside_the_bounds_is_a_400_naming_it(systems: Systems, redis_url: str, limit: str) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        refused = await client.get("/v1/exceptions", params={"limit": limit})
        largest = await client.get("/v1/exceptions", params={"limit": "500"})
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["location"] for e in refused.json()["errors"]] == ["limit"]
    assert largest.status_code == 200, largest.text
    assert set(largest.json()) == {"items", "next_cursor"}
