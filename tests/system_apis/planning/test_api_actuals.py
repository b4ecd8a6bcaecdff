"""The planning system API's actuals, forecast-version and import-status routes, in-process against
a running Anaplan sandbox, with real service tokens."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from system_apis.planning import PlanningSettings, create_app
from system_apis.planning.sandbox.seed import BOOKINGS_FILE_ID, BOOKINGS_IMPORT_ID
from tests.system_apis.planning.helpers import arm, auth, cells, publish, settings_for
from tests.tokens import TestIssuer

BATCH: dict[str, Any] = {
    "legal_entity": "DE01",
    "period": "2026-10",
    "currency": "EUR",
    "lines": [
        {"account": "4000", "amount": {"amount": "130500.25", "currency": "EUR"}, "product_code": "FIG-PLAT"},
        {"account": "6000", "amount": {"amount": "-41000.10", "currency": "EUR"}, "product_code": None},
    ],
}


EUR_1 = {"amount": "1.00", "currency": "EUR"}


def with_lines(*lines: dict[str, Any]) -> dict[str, Any]:
    return dict(BATCH, lines=list(lines))


async def test_actuals_load_and_read_back(client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str) -> None:
    loaded = await client.post("/v1/actuals", json=BATCH, headers=auth(issuer, "planning:write"))
    assert loaded.status_code == 200, loaded.text
    body = loaded.json()
    assert (body["successful"], body["rows_loaded"], body["rows_rejected"]) == (True, 2, 0)
    landed = cells(sandbox_url, module="actuals", entity="DE01", period="2026-10", version="Actuals")
    assert [c["amount"] for c in landed] == ["130500.25", "-41000.10"]
    back = await client.get(
        "/v1/actuals", params={"legal_entity": "DE01", "period": "2026-10"}, headers=auth(issuer, "planning:read")
    )
    assert back.status_code == 200, back.text
    assert back.json() == BATCH


async def test_actuals_for_nothing_loaded_are_a_404_problem(client: AsyncTestClient[Any], issuer: TestIssuer) -> None:
    missing = await client.get(
        "/v1/actuals", params={"legal_entity": "GB01", "period": "2027-03"}, headers=auth(issuer, "planning:read")
    )
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["type"].endswith("/actuals-not-found")
    no_period = await client.get("/v1/actuals", params={"legal_entity": "GB01"}, headers=auth(issuer, "planning:read"))
    assert no_period.status_code == 400


@pytest.mark.parametrize(
    ("batch", "location"),
    [
        (with_lines(), "$.lines"),
        (
            with_lines(BATCH["lines"][0], dict(BATCH["lines"][1], amount={"amount": "1.00", "currency": "USD"})),
            "$.lines[1].amount.currency",
        ),
        (with_lines(BATCH["lines"][0], dict(BATCH["lines"][0], amount=EUR_1)), "$.lines[1]"),
        (with_lines(BATCH["lines"][1], dict(BATCH["lines"][1], product_code="")), "$.lines[1]"),
    ],
)
async def test_batches_the_model_would_load_wrongly_are_422_and_reach_no_platform(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str, batch: dict[str, Any], location: str
) -> None:
    """Well-formed batches whose content cannot be loaded: 422, so a contract-valid request is never a 400."""
    before = cells(sandbox_url, module="actuals")
    response = await client.post("/v1/actuals", json=batch, headers=auth(issuer, "planning:write"))
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("/actuals-not-loadable")
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["location"] for e in response.json()["errors"]] == [location]
    assert cells(sandbox_url, module="actuals") == before


@pytest.mark.parametrize(
    ("batch", "location"),
    [
        (with_lines(dict(BATCH["lines"][0], amount={"amount": 1.5, "currency": "EUR"})), "$.lines[0].amount.amount"),
        (dict(BATCH, period="2026-13"), "$.period"),
    ],
)
async def test_batches_outside_the_contract_are_400_and_reach_no_platform(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str, batch: dict[str, Any], location: str
) -> None:
    before = cells(sandbox_url, module="actuals")
    response = await client.post("/v1/actuals", json=batch, headers=auth(issuer, "planning:write"))
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["location"] for e in response.json()["errors"]] == [location]
    assert cells(sandbox_url, module="actuals") == before


async def test_a_published_actuals_version_rejects_every_row_in_a_200_result(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    publish(sandbox_url, "107000000001")
    response = await client.post("/v1/actuals", json=BATCH, headers=auth(issuer, "planning:write"))
    assert response.status_code == 200
    body = response.json()
    assert (body["successful"], body["rows_loaded"], body["rows_rejected"]) == (False, 0, 2)
    assert "published and locked" in body["rejected"][0]["reason"]
    # the import status answers the same rejected rows later
    status = await client.get(f"/v1/imports/{body['task_id']}", headers=auth(issuer, "planning:read"))
    assert status.status_code == 200
    assert status.json() == body


async def test_forecast_versions_say_which_are_published(client: AsyncTestClient[Any], issuer: TestIssuer) -> None:
    response = await client.get("/v1/forecast-versions", headers=auth(issuer, "planning:read"))
    assert response.status_code == 200, response.text
    assert [(v["name"], v["published"], v["kind"]) for v in response.json()["items"]] == [
        ("Actuals", False, "actuals"),
        ("Committed Bookings", False, "committed"),
        ("Forecast FY26 Q4", True, "forecast"),
        ("Forecast FY27", False, "forecast"),
        ("Budget FY27", True, "budget"),
    ]
    writer_only = await client.get("/v1/forecast-versions", headers=auth(issuer, "planning:write"))
    assert writer_only.status_code == 403


async def test_unknown_import_task_is_a_404_problem(client: AsyncTestClient[Any], issuer: TestIssuer) -> None:
    for task_id in ("F" * 32, "no%20such"):
        response = await client.get(f"/v1/imports/{task_id}", headers=auth(issuer, "planning:read"))
        assert response.status_code == 404
        assert response.json()["type"].endswith("/import-task-not-found")


async def test_throttled_versions_after_retries_are_503_with_retry_after(
    client: AsyncTestClient[Any], issuer: TestIssuer, sandbox_url: str
) -> None:
    arm(sandbox_url, path="/2/0/models/*/versions", kind="throttle", times=5)
    response = await client.get("/v1/forecast-versions", headers=auth(issuer, "planning:read"))
    assert response.status_code == 503
    assert response.json()["extensions"]["vendor_status"] == 429
    assert response.headers["retry-after"]


def test_openapi_documents_the_new_operations_with_their_scopes(redis_url: str) -> None:
    schema = msgspec.to_builtins(create_app(PlanningSettings(redis_url=redis_url)).openapi_schema.to_schema())
    paths = schema["paths"]
    expected = {
        ("/v1/actuals", "post"): ("load_actuals", "planning:write"),
        ("/v1/actuals", "get"): ("get_actuals", "planning:read"),
        ("/v1/forecast-versions", "get"): ("list_forecast_versions", "planning:read"),
        ("/v1/imports/{task_id}", "get"): ("get_import_status", "planning:read"),
    }
    for (path, method), (operation_id, scope) in expected.items():
        operation = paths[path][method]
        assert operation["operationId"] == operation_id
        assert operation["security"] == [{"bearer": [scope]}]
    assert "404" in paths["/v1/imports/{task_id}"]["get"]["responses"]
    assert "404" in paths["/v1/actuals"]["get"]["responses"]


async def test_a_task_outliving_the_timeout_is_504_and_a_failed_import_is_502(
    sandbox_url: str, redis_url: str, idp_url: str, issuer: TestIssuer
) -> None:
    slow = create_app(settings_for(sandbox_url, redis_url, idp_url, issuer, task_timeout=0.01))
    async with AsyncTestClient(slow) as api:
        timed_out = await api.post("/v1/actuals", json=BATCH, headers=auth(issuer, "planning:write"))
    assert timed_out.status_code == 504
    assert timed_out.json()["type"].endswith("/planning-task-timeout")
    # actuals sent to the committed-bookings import: Anaplan fails the whole file (header mismatch)
    wrong = settings_for(
        sandbox_url,
        redis_url,
        idp_url,
        issuer,
        anaplan_actuals_import_id=BOOKINGS_IMPORT_ID,
        anaplan_actuals_file_id=BOOKINGS_FILE_ID,
        max_retries=5,  # the timed-out task above may still hold the model for a moment
    )
    async with AsyncTestClient(create_app(wrong)) as api:
        failed = await api.post("/v1/actuals", json=BATCH, headers=auth(issuer, "planning:write"))
    assert failed.status_code == 502
    problem = failed.json()
    assert problem["type"].endswith("/planning-task-failed")
    assert "do not match" in problem["extensions"]["details"][0]["localMessageText"]
