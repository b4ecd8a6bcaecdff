"""`/health/live` (the process answers) and `/health/ready` (its dependencies answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from litestar import Router, get
from litestar.datastructures import State

from servicekit.errors import ProblemError

__all__ = ["ReadinessCheck", "health_router"]

ReadinessCheck = Callable[[State], Awaitable[None]]


class NotReady(ProblemError):
    status, slug, title = 503, "not-ready", "Not ready"


def health_router(checks: Mapping[str, ReadinessCheck], timeout: float = 2.0) -> Router:
    """A router whose readiness runs every check concurrently; any failure answers 503."""

    @get("/live", operation_id="health_live", include_in_schema=False, sync_to_thread=False)
    def live() -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready", operation_id="health_ready", include_in_schema=False)
    async def ready(state: State) -> dict[str, Any]:
        async def run(name: str, check: ReadinessCheck) -> tuple[str, str]:
            try:
                await asyncio.wait_for(check(state), timeout)
            except Exception as exc:
                return name, f"failed: {type(exc).__name__}: {exc}"[:300]
            return name, "ok"

        results = dict(await asyncio.gather(*(run(n, c) for n, c in checks.items())))
        failed = {n: r for n, r in results.items() if r != "ok"}
        if failed:
            raise NotReady(
                "Not ready: " + "; ".join(f"{n} {r}" for n, r in failed.items()),
                extensions={"checks": results},
            )
        return {"status": "ok", "checks": results}

    return Router(path="/health", route_handlers=[live, ready])
