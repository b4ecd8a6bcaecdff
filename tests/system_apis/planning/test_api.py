"""The planning system API in-process, against a running Anaplan sandbox, with real service tokens."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from system_apis.planning import PlanningSettings, create_app
from system_apis.planning.sandbox import seed
from tests.system_apis.planning.helpers import arm, auth, cells, settings_for
from tests.tokens import TestIssuer

BOOKINGS = [
    {
        "booking_code": "SF-0068d00000DEMO1AAA-1",
        "legal_entity": "DE01",
        "period": "2026-11",
        "product_code": "FIG-PLAT",
        "amount": {"amount": "12000.00", "currency": "EUR"},
    },
    {
        "booking_code": "SF-0068d00000DEMO1AAA-2",
        "legal_entity": "DE01",
        "period": "2026-11",
        "product_code": "FIG-SUPP",
        "amount": {"amount": "2400.00", "currency": "EUR"},
    },
]


async def test_load_answers_the_import_result_and_the_cells_land(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    response = await client.post(
        "/v1/committed-bookings", json={"bookings": BOOKINGS}, headers=auth(issuer, "planning:write")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["successful"] is True
    assert (body["rows_loaded"], body["rows_rejected"], body["rejected"]) == (2, 0, [])
    assert body["import_id"] == seed.BOOKINGS_IMPORT_ID
    assert [c["amount"] for c in cells(sandbox_url, entity="DE01", period="2026-11")] == ["12000.00", "2400.00"]
    back = await client.get(
        "/v1/committed-bookings",
        params={"legal_entity": "DE01", "period": "2026-11"},
        headers=auth(issuer, "planning:read"),
    )
    assert back.status_code == 200, back.text
    assert back.json()["items"] == BOOKINGS


async def test_all_rows_rejected_is_still_200_with_the_rejected_rows(
    client: AsyncTestClient[Any], issuer: TestIssuer
) -> None:
    bad = [dict(b, legal_entity="ZZ01") for b in BOOKINGS]
    response = await client.post(
        "/v1/committed-bookings", json={"bookings": bad}, headers=auth(issuer, "planning:write")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["successful"] is False
    assert (body["rows_loaded"], body["rows_rejected"]) == (0, 2)
    assert [r["row"] for r in body["rejected"]] == [1, 2]
    assert "ZZ01" in body["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"amount": {"amount": 12000.5, "currency": "EUR"}}, "$.bookings[0].amount.amount"),
        ({"amount": {"amount": "NaN", "currency": "EUR"}}, "$.bookings[0].amount"),
        ({"amount": {"amount": "-Infinity", "currency": "EUR"}}, "$.bookings[0].amount"),
        ({"amount": {"amount": "12_000", "currency": "EUR"}}, "$.bookings[0].amount.amount"),
        ({"amount": {"amount": "12000\n", "currency": "EUR"}}, "$.bookings[0].amount.amount"),
        ({"period": "2026-13"}, "$.bookings[0].period"),
        ({"unexpected": "field"}, "$.bookings[0]"),
    ],
)
async def test_invalid_bodies_are_400_problems_and_reach_no_platform(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str, change: dict[str, Any], location: str
) -> None:
    before = cells(sandbox_url)
    body = {"bookings": [dict(BOOKINGS[0], **change)]}
    response = await client.post("/v1/committed-bookings", json=body, headers=auth(issuer, "planning:write"))
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["location"] == location
    assert cells(sandbox_url) == before


async def test_bad_query_filter_is_a_400_problem(client: AsyncTestClient[Any], issuer: TestIssuer) -> None:
    response = await client.get(
        "/v1/committed-bookings", params={"period": "Nov 26"}, headers=auth(issuer, "planning:read")
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_tokens_and_scopes_are_enforced(client: AsyncTestClient[Any], issuer: TestIssuer) -> None:
    anonymous = await client.post("/v1/committed-bookings", json={"bookings": BOOKINGS})
    assert anonymous.status_code == 401
    assert anonymous.json()["type"].endswith("/missing-token")
    reader = await client.post(
        "/v1/committed-bookings", json={"bookings": BOOKINGS}, headers=auth(issuer, "planning:read")
    )
    assert reader.status_code == 403
    assert reader.json()["type"].endswith("/insufficient-scope")
    writer = await client.get("/v1/committed-bookings", headers=auth(issuer, "planning:write"))
    assert writer.status_code == 403


async def test_busy_platform_after_retries_is_503_with_retry_after(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    arm(sandbox_url, path="*/imports/*/tasks", method="POST", kind="busy", times=5)
    response = await client.post(
        "/v1/committed-bookings", json={"bookings": BOOKINGS}, headers=auth(issuer, "planning:write")
    )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/planning-busy")
    assert response.headers["retry-after"]


async def test_platform_failure_is_502_problem(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    arm(sandbox_url, path="*/exports/*/tasks", method="POST", kind="error", status=500)
    response = await client.get("/v1/committed-bookings", headers=auth(issuer, "planning:read"))
    assert response.status_code == 502
    problem = response.json()
    assert problem["type"].endswith("/planning-error")
    assert problem["extensions"]["vendor_status"] == 500


async def test_readiness_checks_redis_and_the_planning_platform(
    client: AsyncTestClient[Any], redis_url: str, idp_url: str, issuer: TestIssuer
) -> None:
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "anaplan": "ok"}
    dead = create_app(settings_for("http://127.0.0.1:1", redis_url, idp_url, issuer))
    async with AsyncTestClient(dead) as dead_client:
        down = await dead_client.get("/health/ready")
        assert down.status_code == 503
        assert "anaplan failed" in down.json()["detail"]


def test_dev_defaults_point_at_the_sandbox_seed() -> None:
    defaults = PlanningSettings()
    sandbox = seed
    assert defaults.port == 8203
    assert defaults.sandbox_url == "http://127.0.0.1:8303"
    assert (defaults.anaplan_workspace_id, defaults.anaplan_model_id) == (sandbox.WORKSPACE_ID, sandbox.MODEL_ID)
    assert defaults.anaplan_bookings_import_id == sandbox.BOOKINGS_IMPORT_ID
    assert defaults.anaplan_bookings_file_id == sandbox.BOOKINGS_FILE_ID
    assert defaults.anaplan_bookings_export_id == sandbox.BOOKINGS_EXPORT_ID
    assert defaults.poll_interval == 5.0


def test_openapi_documents_both_operations_with_their_ids(redis_url: str) -> None:
    app = create_app(PlanningSettings(redis_url=redis_url))
    schema = msgspec.to_builtins(app.openapi_schema.to_schema())
    operations = schema["paths"]["/v1/committed-bookings"]
    assert operations["post"]["operationId"] == "load_committed_bookings"
    assert operations["get"]["operationId"] == "list_committed_bookings"
    assert "every row was rejected" in operations["post"]["description"]
    # the gateway reads each operation's scopes from its security requirement
    assert operations["post"]["security"] == [{"bearer": ["planning:write"]}]
    assert operations["get"]["security"] == [{"bearer": ["planning:read"]}]
    assert operations["post"]["responses"]["503"]["content"]["application/problem+json"]
