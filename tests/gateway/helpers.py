"""Assertions shared by the gateway tests."""

from __future__ import annotations

from typing import Any

import httpx

from servicekit import RedisClient

__all__ = ["AUDIT", "assert_problem", "audited"]

AUDIT = "fig:audit:gateway"


async def audited(redis: RedisClient, correlation_id: str) -> dict[str, str]:
    """The audit entry written for the request with `correlation_id` (exactly one)."""
    entries: Any = await redis.xrange(AUDIT)
    found = [
        {k.decode(): v.decode() for k, v in fields.items()}
        for _, fields in entries
        if fields.get(b"correlation_id") == correlation_id.encode()
    ]
    assert len(found) == 1, f"expected one audit entry for {correlation_id}, got {found}"
    return found[0]


def assert_problem(response: httpx.Response, status: int, slug: str, correlation_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    assert body["correlation_id"] == correlation_id
    assert response.headers["x-correlation-id"] == correlation_id
    return body
