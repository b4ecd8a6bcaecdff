"""JSON Schema normalisation for comparing two OpenAPI documents.

`View` wraps one schema of one document: it resolves `$ref` on access, folds the three nullable
spellings (3.0 `nullable: true`, 3.1 `type: [..., "null"]`, `oneOf`/`anyOf` with a null branch)
into `nullable` + `types`, and names the `$ref` it came from so recursive schemas can be compared
without looping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["View", "accepts_type", "resolve"]

_MAX_REF_HOPS = 32


def resolve(document: Mapping[str, Any], node: Any) -> tuple[dict[str, Any], str | None]:
    """Follow `$ref` chains inside `document`; returns the target and the first `$ref` followed."""
    first: str | None = None
    seen: set[str] = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = str(node["$ref"])
        if ref in seen or len(seen) > _MAX_REF_HOPS or not ref.startswith("#/"):
            return {}, first or ref
        seen.add(ref)
        first = first or ref
        target: Any = document
        for escaped in ref[2:].split("/"):
            part = escaped.replace("~1", "/").replace("~0", "~")
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        node = target
    return (dict(node) if isinstance(node, Mapping) else {}), first


def accepts_type(accepting: set[str], given: str) -> bool:
    """Whether a schema with `accepting` types accepts values of type `given` (integer is a number)."""
    return given in accepting or (given == "integer" and "number" in accepting) or not accepting


def _is_null(branch: Mapping[str, Any]) -> bool:
    return branch.get("type") == "null" or (isinstance(branch.get("enum"), list) and branch["enum"] == [None])


class View:
    """One normalised schema: `types`, `nullable`, `enum` (nulls removed) and the raw keywords."""

    raw: dict[str, Any]
    types: set[str]
    nullable: bool
    ref: str | None

    def __init__(self, document: Mapping[str, Any], node: Any) -> None:
        self.document = document
        raw, self.ref = resolve(document, node)
        nullable = bool(raw.pop("nullable", False))
        types = raw.get("type")
        type_set: set[str] = set(types) if isinstance(types, list) else ({types} if isinstance(types, str) else set())
        if "null" in type_set:
            nullable = True
            type_set.discard("null")
        for key in ("oneOf", "anyOf"):
            branches = raw.get(key)
            if not isinstance(branches, list):
                continue
            resolved = [resolve(document, b) for b in branches]
            rest = [(b, orig) for (b, _), orig in zip(resolved, branches, strict=True) if not _is_null(b)]
            if len(rest) < len(branches):
                nullable = True
                if len(rest) == 1:
                    # `oneOf: [X, null]` is X, nullable: merge the one real branch into this view.
                    del raw[key]
                    inner = View(document, rest[0][1])
                    self.ref = self.ref or inner.ref
                    raw = {**inner.raw, **raw}
                    type_set |= inner.types
                    nullable = nullable or inner.nullable
                else:
                    raw[key] = [orig for _, orig in rest]
        enum = raw.get("enum")
        if isinstance(enum, list):
            if None in enum:
                nullable = True
            raw["enum"] = [v for v in enum if v is not None]
        if "const" in raw and "enum" not in raw:
            raw["enum"] = [raw["const"]]
        self.raw = raw
        self.types = type_set
        self.nullable = nullable

    def get(self, key: str, default: Any = None) -> Any:
        return self.raw.get(key, default)

    @property
    def properties(self) -> dict[str, Any]:
        props = self.raw.get("properties")
        return dict(props) if isinstance(props, Mapping) else {}

    @property
    def required(self) -> set[str]:
        req = self.raw.get("required")
        return set(req) if isinstance(req, list) else set()

    @property
    def enum(self) -> list[Any] | None:
        enum = self.raw.get("enum")
        return list(enum) if isinstance(enum, list) else None

    def child(self, node: Any) -> View:
        return View(self.document, node)
