"""Transactional API: the model's version metadata (`GET /2/0/models/{modelId}/versions`).

The real field set of Anaplan's version metadata is UNVERIFIED (see README); the sandbox answers
`versionMetadata: [{id, name, isActual, isCurrent, editFrom, editTo}]` where `editFrom`/`editTo`
are `{periodText, date}` of the first/last editable month, or null for a version that is published
(no editable period; every write to it is refused).
"""

from __future__ import annotations

import datetime
from typing import Any

from litestar import Request, get
from litestar.params import FromPath

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.seed import MODEL_ID, VersionDefinition
from system_apis.planning.sandbox.wire import page, store_of

__all__ = ["period_json", "version_handlers", "version_json"]


def period_json(period: str | None) -> dict[str, str] | None:
    """`2027-01` as Anaplan shows a month: `{"periodText": "Jan 27", "date": "2027-01-01"}`."""
    if period is None:
        return None
    first = datetime.date(int(period[:4]), int(period[5:7]), 1)
    return {"periodText": first.strftime("%b %y"), "date": first.isoformat()}


def version_json(version: VersionDefinition) -> dict[str, Any]:
    return {
        "id": version.id,
        "name": version.name,
        "isActual": version.is_actual,
        "isCurrent": version.is_current,
        "editFrom": period_json(version.edit_from),
        "editTo": period_json(version.edit_to),
    }


@get("/models/{model_id:str}/versions", operation_id="list_versions", sync_to_thread=False)
def list_versions(request: Request[Any, Any, Any], model_id: FromPath[str]) -> dict[str, Any]:
    if model_id != MODEL_ID:
        raise AnaplanError(404, f"Model {model_id} not found")
    versions = [version_json(v) for v in store_of(request).state.versions]
    return page(request, "versionMetadata", "versionMetadata", versions)


version_handlers = [list_versions]
