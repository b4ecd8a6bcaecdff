"""Stored wire values and SOQL literals as comparable Python values of their field type.

Text compares case-insensitively in SOQL; ids are case-sensitive (15-character ids differ by case).
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any, Final

from system_apis.crm.sandbox.schema import FieldDef
from system_apis.crm.sandbox.store import parse_datetime

__all__ = ["TEXT_TYPES", "compare_value", "typed"]

#: Field types whose literals are quoted strings.
TEXT_TYPES: Final = frozenset({"id", "string", "picklist", "reference", "textarea", "email"})
_CASE_SENSITIVE: Final = frozenset({"id", "reference"})


def _fold(definition: FieldDef, text: str) -> str:
    # Text compares case-insensitively in SOQL; ids are case-sensitive (15-char ids differ by case).
    return text if definition.type in _CASE_SENSITIVE else text.casefold()


@functools.lru_cache(maxsize=262_144)
def _stored_datetime(raw: str) -> datetime:
    # Every query compares or sorts every record's stamps; parse each distinct stamp once.
    return parse_datetime(raw)


def typed(definition: FieldDef, raw: Any) -> Any:
    """A stored wire value as a comparable Python value of its field type."""
    if raw is None:
        return None
    if definition.type == "datetime":
        return _stored_datetime(raw)
    if definition.type == "date":
        return date.fromisoformat(raw)
    if definition.type in TEXT_TYPES:
        return _fold(definition, str(raw))
    return raw


def compare_value(definition: FieldDef, value: Any) -> Any:
    """A literal as a value comparable with `typed(definition, ...)`."""
    if isinstance(value, str):
        return _fold(definition, value)
    if isinstance(value, tuple):
        return frozenset(compare_value(definition, v) for v in value)
    return value
