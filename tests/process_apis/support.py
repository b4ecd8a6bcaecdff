"""Helpers for process API tests: settings pointing at the fakes, the app in-process, polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar.testing import AsyncTestClient

from process_apis import ProcessSettings, create_app
from tests.process_apis.fake_systems import Systems

__all__ = ["RUNS", "process_api", "run_reaches", "settings_for", "until"]

RUNS = "/v1/quote-to-cash/runs"


def settings_for(systems: Systems, redis_url: str, **overrides: Any) -> ProcessSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "auth_required": False,
        "crm_url": systems.urls["crm"],
        "erp_url": systems.urls["erp"],
        "planning_url": systems.urls["planning"],
        "idp_url": systems.urls["idp"],
        "client_secret": "process-test-secret",
        "stream_block": 0.1,
        "claim_idle": 1.0,
        "booking_sweep_interval": 60.0,
        "retry_backoff": 0.01,
        "lock_wait": 0.5,
        "http_retries": 0,
        "scheduler": False,  # the scheduler's tests switch it on
    }
    values.update(overrides)
    return ProcessSettings(**values)


@asynccontextmanager
async def process_api(settings: ProcessSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(settings)) as client:
        yield client


async def until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.03)


async def run_reaches(client: AsyncTestClient[Any], run_id: str, state: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def reached() -> bool:
        response = await client.get(f"{RUNS}/{run_id}")
        seen.update(response.json())
        if seen.get("state") == "failed" != state:
            raise AssertionError(f"run {run_id} failed: {seen.get('error')}")
        return bool(seen.get("state") == state)

    await until(reached)
    return seen
