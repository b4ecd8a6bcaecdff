"""Helpers for the planning tests: run a sandbox, log in, arm faults, read the cube."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from system_apis.planning import PlanningSettings
from system_apis.planning.connector import AnaplanConfig
from system_apis.planning.sandbox import AnaplanSandboxSettings, create_app
from system_apis.planning.sandbox.seed import (
    ACTUALS_EXPORT_ID,
    ACTUALS_FILE_ID,
    ACTUALS_IMPORT_ID,
    BOOKINGS_EXPORT_ID,
    BOOKINGS_FILE_ID,
    BOOKINGS_IMPORT_ID,
    MODEL_ID,
    WORKSPACE_ID,
)
from tests.support import running_server
from tests.tokens import TestIssuer

USER = "fig.integration@example.com"
PASSWORD = "fig-dev-password"
MODEL_PATH = f"/2/0/workspaces/{WORKSPACE_ID}/models/{MODEL_ID}"


@contextmanager
def serve_sandbox(**overrides: Any) -> Iterator[str]:
    """A sandbox of its own on a free port (task_delay 0.05 s unless overridden); yields its URL."""
    settings = AnaplanSandboxSettings(**{"task_delay": 0.05, **overrides})
    with running_server(create_app(settings)) as base:
        yield base


def login(client: httpx.Client) -> str:
    response = client.post("/token/authenticate", auth=(USER, PASSWORD))
    assert response.status_code == 201, response.text
    return str(response.json()["tokenInfo"]["tokenValue"])


def arm(base: str, **rule: Any) -> None:
    """Arm a sandbox fault, e.g. `arm(url, path="*/imports/*/tasks", method="POST", kind="busy", times=2)`."""
    httpx.post(f"{base}/__admin/faults", json=rule).raise_for_status()


def publish(base: str, version_id: str, published: bool = True) -> None:
    """Lock (publish) or reopen a sandbox version through the admin API."""
    httpx.post(f"{base}/__admin/versions/{version_id}", json={"published": published}).raise_for_status()


def armed(base: str) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = httpx.get(f"{base}/__admin/faults").json()["faults"]
    return faults


def cells(base: str, **query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/__admin/cells", params=query)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["cells"]
    return rows


def config(base: str, **overrides: Any) -> AnaplanConfig:
    """Connector settings for a test sandbox: its seed ids, 20 ms polls, millisecond backoffs, 3 retries."""
    values: dict[str, Any] = {
        "api_url": base,
        "auth_url": base,
        "user": USER,
        "password": PASSWORD,
        "workspace_id": WORKSPACE_ID,
        "model_id": MODEL_ID,
        "bookings_import_id": BOOKINGS_IMPORT_ID,
        "bookings_file_id": BOOKINGS_FILE_ID,
        "bookings_export_id": BOOKINGS_EXPORT_ID,
        "actuals_import_id": ACTUALS_IMPORT_ID,
        "actuals_file_id": ACTUALS_FILE_ID,
        "actuals_export_id": ACTUALS_EXPORT_ID,
        "poll_interval": 0.02,
        "retry_base": 0.01,
        "retry_max": 0.05,
        "max_retries": 3,
        **overrides,
    }
    return AnaplanConfig(**values)


def settings_for(sandbox_url: str, redis_url: str, idp_url: str, issuer: TestIssuer, **extra: Any) -> PlanningSettings:
    """Planning system API settings against a test sandbox and a test token issuer, with fast polls."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "idp_url": idp_url,
        "token_issuer": issuer.issuer,
        "sandbox_url": sandbox_url,
        "poll_interval": 0.02,
        "retry_base": 0.01,
        "retry_max": 0.05,
        "max_retries": 2,
        **extra,
    }
    return PlanningSettings(**values)


def auth(issuer: TestIssuer, *scopes: str) -> dict[str, str]:
    """Bearer header of a process-api service token with `scopes`."""
    return {"Authorization": f"Bearer {issuer.mint(scopes, subject='process-api')}"}
