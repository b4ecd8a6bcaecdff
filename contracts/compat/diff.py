"""Classify every change between two OpenAPI documents as breaking or not, with a reason.

Operations are matched by method and path template with parameter names erased
(`/runs/{id}` = `/runs/{run_id}`); path parameters by position, others by location and name.
Operation-level rules (schema rules are in `contracts.compat.changes`):

| rule | breaking | what |
|---|---|---|
| `operation-removed` | yes, unless it was `deprecated` and its `x-sunset` date has passed | |
| `operation-added` | no | |
| `security-added` / `security-scope-added` / `security-scheme-changed` | yes | the caller needs more than before |
| `security-removed` / `security-scope-removed` | no | |
| `request-parameter-added-required` / `request-parameter-became-required` | yes | |
| `request-parameter-removed` | no (the server ignores what it does not read) | |
| `request-body-became-required` | yes | |
| `request-media-type-removed` | yes | a body the server accepted is refused |
| `response-success-status-removed` | yes | a 2xx status the client handles is gone (201→200 too) |
| `response-media-type-removed` | yes | |
| `response-header-removed` | yes | |
| `response-status-added` / `response-status-removed` (non-2xx) | no | |
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from contracts.compat.changes import Change, Direction, compare_schemas
from contracts.compat.schema import resolve

__all__ = ["diff_documents", "operations"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_PARAM = re.compile(r"\{[^}]*\}")


def _template(path: str) -> str:
    return _PARAM.sub("{}", path)


def operations(document: Mapping[str, Any]) -> dict[str, tuple[str, dict[str, Any], list[Any]]]:
    """`"METHOD /path/{}"` -> (the path as written, the operation, path-level parameters)."""
    found: dict[str, tuple[str, dict[str, Any], list[Any]]] = {}
    for path, raw in (document.get("paths") or {}).items():
        item, _ = resolve(document, raw)
        shared = list(item.get("parameters") or [])
        for method in _METHODS:
            if isinstance(item.get(method), Mapping):
                found[f"{method.upper()} {_template(path)}"] = (path, dict(item[method]), shared)
    return found


def _parameters(document: Mapping[str, Any], operation: Mapping[str, Any], shared: list[Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    position = 0
    for raw in [*shared, *(operation.get("parameters") or [])]:
        param, _ = resolve(document, raw)
        where = param.get("in", "query")
        if where == "path":
            key = f"path#{position}"
            position += 1
        else:
            key = f"{where}:{str(param.get('name', '')).lower() if where == 'header' else param.get('name')}"
        params[key] = param
    return params


def _sunset_passed(operation: Mapping[str, Any], today: date) -> bool:
    sunset = operation.get("x-sunset")
    try:
        return bool(operation.get("deprecated")) and sunset is not None and date.fromisoformat(str(sunset)) < today
    except ValueError:
        return False


def _security(document: Mapping[str, Any], operation: Mapping[str, Any]) -> list[dict[str, list[str]]] | None:
    security = operation.get("security", document.get("security"))
    return [dict(r) for r in security] if isinstance(security, list) else None


class _Differ:
    """Compares operations of `old` and `new`, collecting changes in `out`."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old, self.new = old, new
        self.out: list[Change] = []

    def add(self, rule: str, location: str, message: str, *, breaking: bool) -> None:
        self.out.append(Change(rule=rule, location=location, message=message, breaking=breaking))

    def schemas(self, old: Any, new: Any, at: str, direction: Direction) -> None:
        self.out += compare_schemas(self.old, old, self.new, new, at, direction)

    def security(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> None:
        before, after = _security(self.old, old), _security(self.new, new)
        open_before = not before or any(not req for req in before)
        open_after = not after or any(not req for req in after)
        if open_before and not open_after:
            self.add("security-added", at, "the operation now needs credentials", breaking=True)
            return
        if open_after or before is None or after is None:
            if not open_before:
                self.add("security-removed", at, "no credentials needed", breaking=False)
            return
        old_schemes = {name for req in before for name in req}
        new_schemes = {name for req in after for name in req}
        if old_schemes != new_schemes:
            message = f"security schemes {sorted(old_schemes)} became {sorted(new_schemes)}"
            self.add("security-scheme-changed", at, message, breaking=True)
            return
        old_scopes = {s for req in before for scopes in req.values() for s in scopes}
        new_scopes = {s for req in after for scopes in req.values() for s in scopes}
        if new_scopes - old_scopes:
            self.add("security-scope-added", at, f"scopes now needed: {sorted(new_scopes - old_scopes)}", breaking=True)
        if old_scopes - new_scopes:
            self.add("security-scope-removed", at, f"scopes dropped: {sorted(old_scopes - new_scopes)}", breaking=False)

    def parameters(self, old: tuple[Any, list[Any]], new: tuple[Any, list[Any]], at: str) -> None:
        before, after = _parameters(self.old, old[0], old[1]), _parameters(self.new, new[0], new[1])
        for key in sorted(set(before) | set(after)):
            o, n = before.get(key), after.get(key)
            either = n or o or {}
            where = f"{at} parameter {either.get('in')}:{either.get('name', key)}"
            if o is None and n is not None:
                required = bool(n.get("required"))
                rule = "request-parameter-added-required" if required else "request-parameter-added"
                self.add(rule, where, "new parameter", breaking=required)
            elif n is None or o is None:
                self.add("request-parameter-removed", where, "parameter removed", breaking=False)
            else:
                if n.get("required") and not o.get("required"):
                    self.add("request-parameter-became-required", where, "now required", breaking=True)
                self.schemas(o.get("schema", {}), n.get("schema", {}), where, "request")

    def body(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> None:
        o_body, _ = resolve(self.old, old.get("requestBody") or {})
        n_body, _ = resolve(self.new, new.get("requestBody") or {})
        if n_body.get("required") and not o_body.get("required"):
            self.add("request-body-became-required", at, "a body is now required", breaking=True)
        o_content, n_content = o_body.get("content") or {}, n_body.get("content") or {}
        for media in sorted(set(o_content) | set(n_content)):
            where = f"{at} request {media}"
            if media not in n_content:
                self.add("request-media-type-removed", where, "the body media type is refused now", breaking=True)
            elif media not in o_content:
                self.add("request-media-type-added", where, "new body media type", breaking=False)
            else:
                self.schemas(o_content[media].get("schema", {}), n_content[media].get("schema", {}), where, "request")

    def responses(self, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> None:
        o_all, n_all = old.get("responses") or {}, new.get("responses") or {}
        for status in sorted(set(o_all) | set(n_all)):
            where = f"{at} response {status}"
            success = str(status).startswith("2")
            if status not in n_all:
                rule = "response-success-status-removed" if success else "response-status-removed"
                self.add(rule, where, f"status {status} is gone", breaking=success)
                continue
            if status not in o_all:
                self.add("response-status-added", where, f"new status {status}", breaking=False)
                continue
            o_resp, _ = resolve(self.old, o_all[status])
            n_resp, _ = resolve(self.new, n_all[status])
            for header in sorted(set(o_resp.get("headers") or {}) - set(n_resp.get("headers") or {})):
                self.add("response-header-removed", f"{where} header {header}", "header removed", breaking=True)
            o_content, n_content = o_resp.get("content") or {}, n_resp.get("content") or {}
            for media in sorted(set(o_content) | set(n_content)):
                at_media = f"{where} {media}"
                if media not in n_content:
                    self.add("response-media-type-removed", at_media, "no longer in this media type", breaking=True)
                elif media not in o_content:
                    self.add("response-media-type-added", at_media, "new response media type", breaking=False)
                else:
                    old_schema, new_schema = o_content[media].get("schema", {}), n_content[media].get("schema", {})
                    self.schemas(old_schema, new_schema, at_media, "response")

    def removed(self, path: str, operation: Mapping[str, Any], method: str, today: date) -> None:
        at = f"{method} {path}"
        if _sunset_passed(operation, today):
            self.add(
                "operation-removed-after-sunset",
                at,
                f"removed after its sunset {operation.get('x-sunset')}",
                breaking=False,
            )
        else:
            why = " before its sunset" if operation.get("deprecated") else " without deprecation"
            self.add("operation-removed", at, "operation removed" + why, breaking=True)


def diff_documents(old: Mapping[str, Any], new: Mapping[str, Any], *, today: date | None = None) -> list[Change]:
    """Every change from `old` to `new`, each classified (`breaking`) with its rule and location."""
    today = today or datetime.now(UTC).date()
    differ = _Differ(dict(old), dict(new))
    before, after = operations(differ.old), operations(differ.new)
    for key in sorted(set(before) | set(after)):
        method = key.split(" ", 1)[0]
        if key not in after:
            differ.removed(before[key][0], before[key][1], method, today)
            continue
        path, n_op, n_shared = after[key]
        at = f"{method} {path}"
        if key not in before:
            differ.add("operation-added", at, "new operation", breaking=False)
            continue
        _, o_op, o_shared = before[key]
        if n_op.get("deprecated") and not o_op.get("deprecated"):
            differ.add("operation-deprecated", at, "operation deprecated", breaking=False)
        if o_op.get("operationId") != n_op.get("operationId"):
            message = f"operationId {o_op.get('operationId')} -> {n_op.get('operationId')}: generated clients break"
            differ.add("operation-id-changed", at, message, breaking=True)
        differ.security(o_op, n_op, at)
        differ.parameters((o_op, o_shared), (n_op, n_shared), at)
        differ.body(o_op, n_op, at)
        differ.responses(o_op, n_op, at)
    return differ.out
