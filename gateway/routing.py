"""The compiled route table: `(method, public path)` → the operation and its upstream, or 404/405."""

from __future__ import annotations

import re
from collections.abc import Iterable

from gateway.config import ApiConfig, GatewayConfig
from gateway.errors import MethodNotAllowed
from servicekit import NotFound

__all__ = ["Operation", "RouteTable"]

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class Operation:
    """One routable operation, with everything the policies and the proxy need at hand."""

    __slots__ = ("api", "method", "operation_id", "public_base", "scopes", "template", "upstream", "upstream_base")

    def __init__(self, api: ApiConfig, operation_id: str, method: str, template: str, scopes: Iterable[str]) -> None:
        self.api = api.name
        self.operation_id = operation_id
        self.method = method
        self.template = api.base + template
        self.scopes = frozenset(scopes)
        self.upstream = api.upstream
        self.public_base = api.base
        self.upstream_base = api.upstream_prefix if api.upstream_prefix is not None else api.base

    def upstream_path(self, raw_path: str) -> str:
        """The path to request upstream: the public one, with the API base swapped if configured."""
        if self.upstream_base == self.public_base:
            return raw_path
        return self.upstream_base + raw_path[len(self.public_base) :]


def _compile(template: str) -> re.Pattern[str]:
    # A parameter is one non-empty segment that is not `.` or `..` (matched on the decoded path,
    # so an encoded slash makes an extra segment and no match).
    pattern = _PARAM.sub(
        lambda m: rf"(?P<{m.group(1)}>(?!\.\.?(?:/|\Z))[^/]+)",
        re.escape(template).replace(r"\{", "{").replace(r"\}", "}"),
    )
    return re.compile(pattern + r"\Z")


class RouteTable:
    """Resolves requests against the configured APIs. Built once from a checked GatewayConfig."""

    def __init__(self, config: GatewayConfig) -> None:
        self._apis: list[tuple[str, list[tuple[re.Pattern[str], Operation]]]] = []
        for api in config.apis:
            ops = [
                (_compile(op.path), Operation(api, op.operation_id, op.method, op.path, op.scopes))
                for op in api.operations
            ]
            self._apis.append((api.base, ops))
        # Longest base first, so `/v1/a/b` wins over `/v1/a` for paths under both.
        self._apis.sort(key=lambda item: -len(item[0]))
        self.mount_paths = sorted({f"/v{api.major}" for api in config.apis})

    def resolve(self, method: str, path: str) -> Operation:
        """The operation for `method path`; NotFound for an unknown path, MethodNotAllowed for a wrong method."""
        for base, ops in self._apis:
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            if rest and rest[0] != "/":
                continue
            allowed: list[str] = []
            for pattern, op in ops:
                if pattern.match(rest):
                    if op.method == method:
                        return op
                    allowed.append(op.method)
            if allowed:
                raise MethodNotAllowed(method, path, allowed)
        raise NotFound(f"No API operation at {path}.", slug="unknown-route", title="Unknown route")

    def operations(self) -> list[Operation]:
        return [op for _, ops in self._apis for _, op in ops]
