"""Helpers for the planning tests: run a sandbox, log in, arm faults, read the cube."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from system_apis.planning.sandbox import AnaplanSandboxSettings, create_app
from system_apis.planning.sandbox.seed import MODEL_ID, WORKSPACE_ID
from tests.support import running_server

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


def armed(base: str) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = httpx.get(f"{base}/__admin/faults").json()["faults"]
    return faults


def cells(base: str, **query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/__admin/cells", params=query)
    response.raise_for_status()
    rows: list[dict[str, Any]] = response.json()["cells"]
    return rows
