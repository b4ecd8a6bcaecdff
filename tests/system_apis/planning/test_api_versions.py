"""Published versions through the planning system API: what a reporter may report, against the sandbox."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.system_apis.planning.helpers import auth, publish
from tests.system_apis.planning.test_api import BOOKINGS
from tests.tokens import TestIssuer

COMMITTED_VERSION = "107000000002"


async def test_committed_bookings_name_their_version_and_whether_it_is_published(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    loaded = await client.post(
        "/v1/committed-bookings", json={"bookings": BOOKINGS}, headers=auth(issuer, "planning:write")
    )
    assert loaded.status_code == 200, loaded.text
    query = {"legal_entity": "DE01", "period": "2026-11"}

    draft = await client.get("/v1/committed-bookings", params=query, headers=auth(issuer, "planning:read"))
    assert draft.status_code == 200, draft.text
    assert draft.json()["version"] == {
        "id": COMMITTED_VERSION,
        "name": "Committed Bookings",
        "published": False,
        "kind": "committed",
    }

    publish(sandbox_url, COMMITTED_VERSION)
    published = await client.get("/v1/committed-bookings", params=query, headers=auth(issuer, "planning:read"))
    assert published.json()["version"]["published"] is True
    assert published.json()["items"] == BOOKINGS


async def test_forecast_versions_can_be_narrowed_to_the_published_ones(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    headers = auth(issuer, "planning:read")
    before = await client.get("/v1/forecast-versions", params={"published": "true"}, headers=headers)
    assert before.status_code == 200, before.text
    assert [v["name"] for v in before.json()["items"]] == ["Forecast FY26 Q4", "Budget FY27"]

    publish(sandbox_url, "107000000004")  # Forecast FY27
    publish(sandbox_url, "107000000005", published=False)  # Budget FY27 reopened
    after = await client.get("/v1/forecast-versions", params={"published": "true"}, headers=headers)
    assert [v["name"] for v in after.json()["items"]] == ["Forecast FY26 Q4", "Forecast FY27"]
    drafts = await client.get("/v1/forecast-versions", params={"published": "false"}, headers=headers)
    assert [v["name"] for v in drafts.json()["items"]] == ["Actuals", "Committed Bookings", "Budget FY27"]

    malformed = await client.get("/v1/forecast-versions", params={"published": "yes"}, headers=headers)
    assert malformed.status_code == 400
    assert "published" in malformed.text
