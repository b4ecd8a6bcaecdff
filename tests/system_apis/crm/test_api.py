"""The CRM system API in-process, against a running Salesforce sandbox and a test token issuer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from system_apis.crm import create_app
from tests.system_apis.crm.support import SandboxAdmin, crm_settings
from tests.tokens import TestIssuer


@pytest.fixture
async def api(redis_url: str, sandbox: str, issuer: tuple[TestIssuer, str]) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(crm_settings(redis_url, sandbox, issuer))
    token = issuer[0].mint(["crm:read"])
    async with AsyncTestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


async def test_get_opportunity_returns_the_canonical_model(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/v1/opportunities/0068d00000DEMO1AAA")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["amount"] == {"amount": "14400.00", "currency": "EUR"}
    assert body["approval_status"] == "pending"
    assert body["close_date"] == "2026-11-30"
    assert body["account_name"] == "Rheinwerk Analytics GmbH"
    assert [line["total"] for line in body["lines"]] == [
        {"amount": "12000.00", "currency": "EUR"},
        {"amount": "2400.00", "currency": "EUR"},
    ]


async def test_unknown_records_are_404_problems(api: AsyncTestClient[Any]) -> None:
    for path in ("/v1/opportunities/0068d00000NOPEAAAA", "/v1/accounts/0018d00000NOPEAAAA"):
        response = await api.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "NOT_FOUND"


async def test_get_account(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/v1/accounts/0018d00000DEMOAAAA")
    assert response.status_code == 200
    assert response.json()["name"] == "Rheinwerk Analytics GmbH"
    assert response.json()["currency"] == "EUR"


async def test_token_and_scope_are_required(api: AsyncTestClient[Any], issuer: tuple[TestIssuer, str]) -> None:
    anonymous = await api.get("/v1/opportunities/0068d00000DEMO1AAA", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong_scope = issuer[0].mint(["erp:read"])
    forbidden = await api.get(
        "/v1/opportunities/0068d00000DEMO1AAA", headers={"Authorization": f"Bearer {wrong_scope}"}
    )
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("/insufficient-scope")


async def test_list_pages_through_every_change_once(api: AsyncTestClient[Any], admin: SandboxAdmin) -> None:
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"changed_since": "2020-01-01T00:00:00Z", "limit": 60}
    while True:
        response = await api.get("/v1/opportunities", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += page["items"]
        if page["next_cursor"] is None:
            break
        params = {"cursor": page["next_cursor"], "limit": 60}
    ids = [o["id"] for o in seen]
    assert len(ids) == len(set(ids)) >= 202
    stamps = [o["last_modified"] for o in seen]
    assert stamps == sorted(stamps)
    admin.close_won("0068d00000DEMO1AAA")
    recent = await api.get("/v1/opportunities", params={"changed_since": stamps[-1]})
    assert [o["id"] for o in recent.json()["items"]] == ["0068d00000DEMO1AAA"]


async def test_bad_cursor_and_limit_are_400(api: AsyncTestClient[Any]) -> None:
    assert (await api.get("/v1/opportunities", params={"cursor": "bm9wZQ"})).status_code == 400
    assert (await api.get("/v1/opportunities", params={"limit": 0})).status_code == 400
    assert (await api.get("/v1/opportunities", params={"limit": 201})).status_code == 400


@pytest.mark.parametrize("since", ["0.5", "1700000000", "2026-11-30", "yesterday"])
async def test_changed_since_must_be_an_iso_instant(api: AsyncTestClient[Any], since: str) -> None:
    """Lax decoding took a number as an epoch timestamp and answered 200 with everything since 1970."""
    response = await api.get("/v1/opportunities", params={"changed_since": since})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["location"] for e in response.json()["errors"]] == ["changed_since"]


async def test_vendor_failures_become_problems(api: AsyncTestClient[Any], admin: SandboxAdmin) -> None:
    admin.fault("limit")
    limited = await api.get("/v1/opportunities/0068d00000DEMO1AAA")
    assert limited.status_code == 503
    assert limited.json()["code"] == "REQUEST_LIMIT_EXCEEDED"
    assert "allocation" in limited.json()["detail"]
    admin.fault("status", status=500, error_code="UNKNOWN_EXCEPTION")
    failed = await api.get("/v1/accounts/0018d00000DEMOAAAA")
    assert failed.status_code == 502
    assert "UNKNOWN_EXCEPTION" in failed.json()["detail"]


async def test_unreachable_salesforce_is_503_and_not_ready(redis_url: str, issuer: tuple[TestIssuer, str]) -> None:
    app = create_app(crm_settings(redis_url, "http://127.0.0.1:9", issuer, sf_retries=0))
    async with AsyncTestClient(app) as client:
        token = issuer[0].mint(["crm:read"])
        response = await client.get("/v1/accounts/0018d00000DEMOAAAA", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 503
        assert response.json()["code"] == "UNREACHABLE"
        assert (await client.get("/health/ready")).status_code == 503


async def test_ready_when_redis_and_salesforce_answer(api: AsyncTestClient[Any]) -> None:
    response = await api.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"redis": "ok", "salesforce": "ok"}
