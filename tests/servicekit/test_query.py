"""Query parameters are decoded as strictly as bodies: the form the document promises, or a 400 naming it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import pytest
from litestar import get
from litestar.params import FromQuery, QueryParameter
from litestar.testing import AsyncTestClient

from servicekit import ServiceSettings, create_service_app


@get("/v1/things", operation_id="listThings", sync_to_thread=False)
def things(
    *,
    changed_since: FromQuery[datetime | None] = None,
    on: FromQuery[date | None] = None,
    won: FromQuery[bool | None] = None,
    region: FromQuery[Literal["NA", "APAC"] | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500)] = 20,
    after: Annotated[str | None, QueryParameter(name="page-after")] = None,
) -> dict[str, Any]:
    return {
        "changed_since": changed_since.isoformat() if changed_since else None,
        "on": on.isoformat() if on else None,
        "won": won,
        "limit": limit,
        "after": after,
    }


def _app() -> Any:
    return create_service_app(name="t", settings=ServiceSettings(auth_required=False), route_handlers=[things],
                              use_redis=False)  # fmt: skip


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"changed_since": "0.5"}, "changed_since"),  # lax decoding took it as an epoch timestamp
        ({"changed_since": "1700000000"}, "changed_since"),
        ({"changed_since": "2026-11-30"}, "changed_since"),
        ({"on": "20261130"}, "on"),
        ({"won": "1"}, "won"),
        ({"won": "True"}, "won"),
        ({"limit": "1e2"}, "limit"),
        ({"limit": "1.0"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"region": "apac"}, "region"),
    ],
)
async def test_a_value_of_the_wrong_form_is_a_400_naming_the_parameter(query: dict[str, str], name: str) -> None:
    async with AsyncTestClient(_app()) as client:
        response = await client.get("/v1/things", params=query)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["location"] for e in response.json()["errors"]] == [name]


async def test_values_of_the_promised_form_are_taken() -> None:
    query = {
        "changed_since": "2026-11-30T09:00:00+01:00",
        "on": "2026-11-30",
        "won": "false",
        "region": "APAC",
        "limit": "500",
        "page-after": "0.5",
    }
    async with AsyncTestClient(_app()) as client:
        response = await client.get("/v1/things", params=query)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "changed_since": "2026-11-30T09:00:00+01:00",
        "on": "2026-11-30",
        "won": False,
        "limit": 500,
        "after": "0.5",
    }
