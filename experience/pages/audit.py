"""Audit: the audit log for auditors, when the API offers it (`GET /v1/audit`)."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from experience.api import ApiClient
from experience.auth import SignedIn
from experience.pages.render import page

__all__ = ["audit_page"]


@get("/audit", include_in_schema=False)
async def audit_page(state: State, who: NamedDependency[SignedIn], entity: FromQuery[str | None] = None) -> Template:
    """The audit entries the person may read; a clear notice where the API has no audit log."""
    api: ApiClient = state.api
    answer = await api.get("/v1/audit", who.token, {"legal_entity": entity} if entity else None)
    entries: list[dict[str, Any]] = []
    if answer.ok:
        body = answer.body
        entries = body.get("items", []) if isinstance(body, dict) else body if isinstance(body, list) else []
    return page(
        "audit.html",
        who,
        active="/audit",
        title="Audit",
        answer=answer,
        available=answer.status != 404,
        entries=entries,
        entity=entity or "",
    )
