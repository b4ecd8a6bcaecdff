"""The change record and the schema comparison rules (request: shrinking is breaking; response: growing is).

Rule ids (oasdiff-like names):

| rule | breaking | what |
|---|---|---|
| `request-type-narrowed` | yes | a request value no longer accepts a type it accepted |
| `response-type-widened` | yes | a response value may now have a type it never had |
| `request-enum-value-removed` | yes | a request enum lost a value |
| `response-enum-value-added` | yes | a response enum gained a value (unless `x-extensible-enum: true`) |
| `request-bounds-tightened` | yes | min/max, length, items, pattern or format tightened on a request value |
| `request-became-non-nullable` | yes | a request value no longer accepts null |
| `response-became-nullable` | yes | a response value may now be null |
| `request-property-added-required` | yes | a request object needs a property it did not |
| `response-required-property-removed` | yes | a guaranteed response property is gone or optional |
| `request-property-removed` | yes if the object refuses unknown properties | |
| `request-enum-value-added`, `response-enum-value-removed`, `request-bounds-relaxed`, ... | no | everything else |
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from contracts.compat.schema import View, accepts_type

__all__ = ["Change", "Direction", "compare_schemas"]

Direction = Literal["request", "response"]


class Change(msgspec.Struct, kw_only=True, frozen=True):
    """One difference between two documents: which rule, where, why, and whether it breaks clients."""

    rule: str
    location: str
    message: str
    breaking: bool
    #: Set when the allow-list accepts this breaking change: the recorded reason.
    accepted: str | None = None


# keyword -> True when a larger value is tighter (minimum), False when smaller is (maximum)
_LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


class _Comparer:
    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.changes: list[Change] = []
        self.visited: set[tuple[str | None, str | None, str]] = set()

    def add(self, rule: str, location: str, message: str, *, breaking: bool) -> None:
        self.changes.append(Change(rule=rule, location=location, message=message, breaking=breaking))

    def compare(self, old: View, new: View, at: str) -> None:
        pair = (old.ref, new.ref, self.direction)
        if old.ref or new.ref:
            if pair in self.visited:
                return  # a recursive schema: this pair of definitions is being compared further up
            self.visited.add(pair)
        try:
            self._compare(old, new, at)
        finally:
            self.visited.discard(pair)

    def _compare(self, old: View, new: View, at: str) -> None:
        request = self.direction == "request"
        self._types(old, new, at, request=request)
        self._nullable(old, new, at, request=request)
        self._enum(old, new, at, request=request)
        if request:
            self._bounds(old, new, at)
        self._properties(old, new, at, request=request)
        if old.get("items") is not None and new.get("items") is not None:
            self.compare(old.child(old.get("items")), new.child(new.get("items")), at + "[]")
        for key in ("oneOf", "anyOf"):
            o, n = old.get(key), new.get(key)
            if isinstance(o, list) and isinstance(n, list) and len(o) == len(n):
                for i, (ob, nb) in enumerate(zip(o, n, strict=True)):
                    self.compare(old.child(ob), new.child(nb), f"{at}/{key}[{i}]")
            elif isinstance(o, list) and isinstance(n, list):
                shrank = len(n) < len(o)
                self.add(
                    f"{self.direction}-{key.lower()}-changed",
                    at,
                    f"{key} went from {len(o)} to {len(n)} alternatives",
                    breaking=shrank if request else not shrank,
                )

    def _types(self, old: View, new: View, at: str, *, request: bool) -> None:
        if not old.types or not new.types or old.types == new.types:
            if old.types and not new.types and not request:
                self.add("response-type-widened", at, f"type {sorted(old.types)} became unconstrained", breaking=True)
            return
        if request:
            lost = sorted(t for t in old.types if not accepts_type(new.types, t))
            if lost:
                self.add(
                    "request-type-narrowed",
                    at,
                    f"type {sorted(old.types)} became {sorted(new.types)}: {', '.join(lost)} no longer accepted",
                    breaking=True,
                )
            else:
                self.add(
                    "request-type-widened", at, f"type {sorted(old.types)} became {sorted(new.types)}", breaking=False
                )
        else:
            gained = sorted(t for t in new.types if not accepts_type(old.types, t))
            if gained:
                self.add(
                    "response-type-widened",
                    at,
                    f"type {sorted(old.types)} became {sorted(new.types)}: {', '.join(gained)} may now be returned",
                    breaking=True,
                )
            else:
                self.add(
                    "response-type-narrowed", at, f"type {sorted(old.types)} became {sorted(new.types)}", breaking=False
                )

    def _nullable(self, old: View, new: View, at: str, *, request: bool) -> None:
        if old.nullable and not new.nullable:
            self.add(f"{self.direction}-became-non-nullable", at, "null is no longer allowed", breaking=request)
        elif new.nullable and not old.nullable:
            self.add(f"{self.direction}-became-nullable", at, "null is now allowed", breaking=not request)

    def _enum(self, old: View, new: View, at: str, *, request: bool) -> None:
        o, n = old.enum, new.enum
        if o is None and n is None:
            return
        if o is not None and n is None:
            rule = "request-enum-removed" if request else "response-enum-removed"
            self.add(rule, at, "the value is no longer limited to an enum", breaking=not request)
            return
        if o is None and n is not None:
            rule = "request-enum-added" if request else "response-enum-added"
            self.add(rule, at, f"the value is now limited to {n}", breaking=request)
            return
        if o is None or n is None:
            return
        removed = [v for v in o if v not in n]
        added = [v for v in n if v not in o]
        if removed:
            self.add(f"{self.direction}-enum-value-removed", at, f"enum values removed: {removed}", breaking=request)
        if added:
            extensible = bool(new.get("x-extensible-enum"))
            breaking = not request and not extensible
            self.add(f"{self.direction}-enum-value-added", at, f"enum values added: {added}", breaking=breaking)

    def _bounds(self, old: View, new: View, at: str) -> None:
        for key in _LOWER_BOUNDS + _UPPER_BOUNDS:
            o, n = old.get(key), new.get(key)
            if o == n or isinstance(o, bool) or isinstance(n, bool):
                continue
            lower = key in _LOWER_BOUNDS
            if n is not None and (o is None or (n > o if lower else n < o)):
                self.add("request-bounds-tightened", at, f"{key} {o} -> {n}", breaking=True)
            else:
                self.add("request-bounds-relaxed", at, f"{key} {o} -> {n}", breaking=False)
        for key in ("pattern", "format", "multipleOf"):
            o, n = old.get(key), new.get(key)
            if o != n and n is not None:
                self.add("request-bounds-tightened", at, f"{key} {o!r} -> {n!r}", breaking=True)
            elif o != n:
                self.add("request-bounds-relaxed", at, f"{key} {o!r} removed", breaking=False)

    def _properties(self, old: View, new: View, at: str, *, request: bool) -> None:
        op, np_ = old.properties, new.properties
        for name in sorted(set(op) | set(np_)):
            where = f"{at}.{name}"
            if name in op and name in np_:
                self.compare(old.child(op[name]), new.child(np_[name]), where)
            elif name in np_:
                if request and name in new.required:
                    self.add("request-property-added-required", where, "new required property", breaking=True)
                else:
                    self.add(f"{self.direction}-property-added", where, "new optional property", breaking=False)
            elif request:
                closed = new.get("additionalProperties") is False
                self.add("request-property-removed", where, "property removed", breaking=closed)
            elif name in old.required:
                self.add("response-required-property-removed", where, "guaranteed property removed", breaking=True)
            else:
                self.add("response-optional-property-removed", where, "optional property removed", breaking=False)
        if request:
            for name in sorted((new.required - old.required) & set(op)):
                self.add("request-property-became-required", f"{at}.{name}", "property became required", breaking=True)
        else:
            for name in sorted((old.required - new.required) & set(np_)):
                self.add(
                    "response-required-property-removed",
                    f"{at}.{name}",
                    "property is no longer guaranteed",
                    breaking=True,
                )


def compare_schemas(  # noqa: PLR0917 - two (document, schema) pairs, a location and a direction
    old_doc: dict[str, Any], old: Any, new_doc: dict[str, Any], new: Any, at: str, direction: Direction
) -> list[Change]:
    """All changes between two schemas (each in its own document), in `direction`."""
    comparer = _Comparer(direction)
    comparer.compare(View(old_doc, old), View(new_doc, new), at)
    return comparer.changes
