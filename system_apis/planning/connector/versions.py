"""Anaplan version metadata -> canonical ForecastVersion.

`published` is derived from the edit window: a version without `editFrom`/`editTo` has no
editable period, so every write to it is refused (Anaplan has no "published" flag as such; model
builders lock a version by closing its edit window). `kind` follows the model's naming: the
`isActual` version is `actuals`; names starting "Budget" are `budget`, names starting
"Committed" are `committed`, every other version is a `forecast`.
"""

from __future__ import annotations

from typing import Any, Literal

from contracts import ForecastVersion
from system_apis.planning.errors import PlanningProtocolError

__all__ = ["parse_versions"]

Kind = Literal["actuals", "forecast", "budget", "committed"]


def _kind(name: str, is_actual: bool) -> Kind:
    if is_actual:
        return "actuals"
    lowered = name.lower()
    if lowered.startswith("budget"):
        return "budget"
    if lowered.startswith("committed"):
        return "committed"
    return "forecast"


def parse_versions(items: list[Any]) -> list[ForecastVersion]:
    """`versionMetadata` entries as ForecastVersions, in the model's order."""
    found = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not isinstance(item.get("name"), str):
            raise PlanningProtocolError(f"unreadable version metadata: {item!r}")
        is_actual = item.get("isActual") is True
        editable = item.get("editFrom") is not None and item.get("editTo") is not None
        found.append(
            ForecastVersion(
                id=item["id"],
                name=item["name"],
                published=not editable,
                kind=_kind(item["name"], is_actual),
            )
        )
    return found
