"""Request (and report-only response) validation compiled from an OpenAPI 3.1 document.

At load, each operation's parameters become one JSON Schema (`{"path": {...}, "query": {...},
"header": {...}}`) and each JSON request body / response one schema, all compiled into
jsonschema-rs Draft 2020-12 validators with the document's `components` embedded (so
`#/components/...` resolves) and `validate_formats=True` (else `uuid`/`date` pass unchecked).
Per request the cost is microseconds (`../shared/reference/tooling.md`).

Parameters arrive as strings; they are coerced by the types their schema allows (integer, number,
boolean, arrays as repeated `form` keys or comma-separated with `explode: false`) before
validation, so a wrong type is reported by the schema. Not handled: cookie parameters, `deepObject`
style, media types other than JSON (their bodies pass unvalidated), `readOnly`/`writeOnly`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import jsonschema_rs
import msgspec

from contracts import ProblemFieldError

__all__ = ["BodyValidator", "ParameterValidator", "compile_schema", "field_errors"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_MAX_ERRORS = 50


def compile_schema(schema: Mapping[str, Any], components: Mapping[str, Any]) -> jsonschema_rs.Validator:
    """A Draft 2020-12 validator for `schema` with the document's components resolvable."""
    root = {"$schema": _DIALECT, **schema, "components": components}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def field_errors(validator: jsonschema_rs.Validator, instance: Any, prefix: str) -> list[ProblemFieldError]:
    """Every violation (up to 50) as `location` (`$.a.b[0]` style under `prefix`) + message."""
    errors: list[ProblemFieldError] = []
    for error in validator.iter_errors(instance):
        location = prefix
        for part in error.instance_path:
            location += f"[{part}]" if isinstance(part, int) else f".{part}" if location else str(part)
        errors.append(ProblemFieldError(location=location, message=error.message))
        if len(errors) >= _MAX_ERRORS:
            break
    return errors


def _types(schema: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        found.add(kind)
    elif isinstance(kind, list):
        found.update(k for k in kind if isinstance(k, str))
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, ()):
            if isinstance(branch, dict):
                found |= _types(branch)
    return found


def _coerce(value: str, types: set[str]) -> Any:
    if "integer" in types:
        try:
            return int(value)
        except ValueError:
            pass
    if "number" in types:
        try:
            return float(value)
        except ValueError:
            pass
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


class _Param:
    __slots__ = ("array", "explode", "item_types", "name", "types")

    def __init__(self, name: str, schema: Mapping[str, Any], explode: bool) -> None:
        self.name = name
        self.types = _types(schema)
        self.array = "array" in self.types
        items = schema.get("items")
        self.item_types = _types(items) if isinstance(items, dict) else set()
        self.explode = explode

    def value(self, raw: list[str]) -> Any:
        if self.array:
            parts = raw if self.explode else [p for r in raw for p in r.split(",")]
            return [_coerce(p, self.item_types) for p in parts]
        return _coerce(raw[-1], self.types)


class ParameterValidator:
    """Validates path, query and header parameters of one operation."""

    def __init__(self, parameters: Iterable[Mapping[str, Any]], components: Mapping[str, Any]) -> None:
        sections: dict[str, dict[str, Any]] = {}
        self._params: dict[str, list[_Param]] = {"path": [], "query": [], "header": []}
        for p in parameters:
            where, name = p.get("in"), p.get("name")
            if where not in self._params or not isinstance(name, str):
                continue
            if where == "header":
                name = name.lower()
                if name in ("authorization", "content-type", "accept"):
                    continue
            schema = p.get("schema") or {}
            explode = bool(p.get("explode", p.get("style", "form") == "form"))
            self._params[where].append(_Param(name, schema, explode))
            section = sections.setdefault(where, {"type": "object", "properties": {}, "required": []})
            section["properties"][name] = schema
            if p.get("required"):
                section["required"].append(name)
        self.empty = not sections
        self._validator = None if self.empty else compile_schema({"type": "object", "properties": sections}, components)

    def errors(
        self, path_params: Mapping[str, str], query: bytes, headers: Iterable[tuple[bytes, bytes]]
    ) -> list[ProblemFieldError]:
        if self._validator is None:
            return []
        instance: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "header": {}}
        for param in self._params["path"]:
            if param.name in path_params:
                instance["path"][param.name] = param.value([path_params[param.name]])
        if self._params["query"]:
            raw: dict[str, list[str]] = {}
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                raw.setdefault(key, []).append(value)
            for param in self._params["query"]:
                if param.name in raw:
                    instance["query"][param.name] = param.value(raw[param.name])
        if self._params["header"]:
            wanted = {p.name.encode(): p for p in self._params["header"]}
            for raw_name, raw_value in headers:
                header = wanted.get(raw_name)
                if header is not None:
                    instance["header"][header.name] = header.value([raw_value.decode("latin-1")])
        return field_errors(self._validator, instance, "")


class BodyValidator:
    """Validates a JSON body (bytes) against one schema; reports malformed JSON separately."""

    def __init__(self, schema: Mapping[str, Any], components: Mapping[str, Any]) -> None:
        self._validator = compile_schema(schema, components)

    def decode(self, body: bytes) -> Any:
        """The decoded JSON; raises msgspec.DecodeError when it is not JSON."""
        return msgspec.json.decode(body)

    def errors(self, instance: Any) -> list[ProblemFieldError]:
        return field_errors(self._validator, instance, "$")
