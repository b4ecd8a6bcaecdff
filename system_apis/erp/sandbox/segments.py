"""Classification segments and custom body fields of a transaction (`department`, `location`,
`class`, `custbody_*`), as a sales order carries them.

The account has a small fixed set of departments, locations and classes (the standard segments a
OneWorld account uses to slice reporting); a reference to any other id is refused as NetSuite
refuses an invalid key. Custom body fields are any `custbody_<name>` field with a plain value
(text, number, boolean, null) or a reference object `{"id": ...}`; other shapes are refused.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Final

from system_apis.erp.sandbox.errors import NetSuiteError

__all__ = ["CUSTOM_BODY_FIELD", "SEGMENTS", "custom_body_fields", "segment_ref", "segment_refs"]

#: segment field -> id -> name.
SEGMENTS: Final[dict[str, dict[str, str]]] = {
    "department": {"1": "Sales", "2": "Professional Services", "3": "Finance"},
    "location": {"1": "London", "2": "Frankfurt", "3": "New York"},
    "class": {"1": "Subscription", "2": "Services", "3": "Hardware"},
}
CUSTOM_BODY_FIELD: Final = re.compile(r"^custbody_[a-z0-9_]{1,90}$")


def _invalid(path: str, detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_CONTENT", detail, path)


def segment_refs(body: dict[str, Any]) -> dict[str, str]:
    """The segment ids a write sets (`{"department": {"id": "2"}}` -> `{"department": "2"}`); checked."""
    found: dict[str, str] = {}
    for field, known in SEGMENTS.items():
        if field not in body:
            continue
        value = body[field]
        raw = value.get("id") if isinstance(value, dict) and set(value) <= {"id", "refName"} else None
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise _invalid(field, f'The field {field} must be a reference object such as {{"id": "1"}}.')
        if str(raw) not in known:
            raise _invalid(
                field,
                "Error while accessing a resource. You have entered an Invalid Field Value "
                f"{raw} for the following field: {field}",
            )
        found[field] = str(raw)
    return found


def segment_ref(field: str, segment_id: str) -> dict[str, str]:
    """How a record renders one segment: `{"id", "refName"}`."""
    return {"id": segment_id, "refName": SEGMENTS[field].get(segment_id, segment_id)}


def custom_body_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The `custbody_*` fields of a write, checked: plain values or reference objects."""
    found: dict[str, Any] = {}
    for key, value in body.items():
        if not key.startswith("custbody"):
            continue
        if not CUSTOM_BODY_FIELD.match(key):
            raise _invalid(key, f"Invalid field: {key}. Custom body field ids are custbody_ followed by a-z, 0-9, _.")
        plain = value is None or isinstance(value, str | bool | int | Decimal)
        reference = isinstance(value, dict) and set(value) <= {"id", "refName"} and isinstance(value.get("id"), str)
        if not (plain or reference):
            raise _invalid(key, f"The field {key} must be a text, number, boolean or reference value.")
        found[key] = {"id": value["id"]} if reference else value
    return found
