"""Assertions shared by the gateway tests."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from servicekit import RedisClient
from servicekit.audit_chain import verify_entries
from servicekit.audit_store import AuditStore

__all__ = ["assert_problem", "audited"]


async def audited(redis: RedisClient, correlation_id: str) -> dict[str, str]:
    """The refusal the audit log holds for the request with `correlation_id` (exactly one).

    Its detail fields (status, reason, operation, ...) with `client`, `actor` and `legal_entity`;
    every chain it looked through must verify.
    """
    store = AuditStore(redis)
    found = []
    for chain in await store.chains():
        entries = [msgspec.to_builtins(entry) async for _, entry in store.entries(chain)]
        assert verify_entries(entries) is None, f"audit chain {chain} does not verify"
        found += [
            {
                **e["detail"],
                "client": e["client"],
                "actor": e["actor"],
                "legal_entity": e["legal_entity"] or "",
                "action": e["action"],
                "time": e["time"],
            }
            for e in entries
            if e["correlation_id"] == correlation_id
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
