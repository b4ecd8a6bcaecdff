"""Operations read from the committed OpenAPI documents, and the route table built from them.

For each upstream, its `documents` (under `contracts/openapi/`) are read at start-up and on reload:
every operation's method and path template, the scopes in its `security` (alternatives: any one
requirement object must be met in full), its `x-financially-material` marker, and its compiled
parameter/body/response validators. Each operation goes to the route with the longest base that
covers its path. A listed document that does not exist (yet) is skipped with a warning.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from email.utils import format_datetime
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, RouteConfig, VersionConfig
from gateway.errors import ConfigError, MethodNotAllowed
from gateway.validation import BodyValidator, ParameterValidator
from servicekit import NotFound

__all__ = ["Operation", "Route", "RouteTable", "load_documents", "openapi_dir"]

log = logging.getLogger("gateway.catalogue")

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: Parameter names and top-level-or-nested body keys that name a legal entity.
ENTITY_FIELDS = frozenset({"legal_entity"})


def openapi_dir() -> Path:
    """The committed OpenAPI documents (`contracts/openapi/`)."""
    return Path(str(resources.files("contracts").joinpath("openapi")))


def load_documents(paths: list[str], base: Path) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for relative in paths:
        path = base / relative
        if not path.exists():
            log.warning("OpenAPI document not found, skipped", extra={"document": str(path)})
            continue
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"OpenAPI document {path}: {exc}") from None
    return documents


class Route:
    """One row of the route table with its lifecycle entry from the catalogue."""

    __slots__ = ("base", "config", "deprecation_headers", "key", "version")

    def __init__(self, config: RouteConfig, version: VersionConfig) -> None:
        self.config = config
        self.version = version
        self.base = config.base
        #: `api:v<major>`, how clients' allowed APIs and the deprecation counters name it.
        self.key = f"{config.api}:v{config.major}"
        self.deprecation_headers: list[tuple[bytes, bytes]] = []
        if version.status == "deprecated" and version.deprecated_at and version.sunset_at:
            self.deprecation_headers = [
                (b"deprecation", f"@{int(version.deprecated_at.timestamp())}".encode()),
                (b"sunset", format_datetime(version.sunset_at, usegmt=True).encode()),
            ]
        if version.successor is not None and version.status != "active":
            successor = f"/v{version.successor}{config.prefix}"
            self.deprecation_headers.append((b"link", f'<{successor}>; rel="successor-version"'.encode()))


class Operation:
    """One routable operation, with everything the policies and the proxy need at hand."""

    __slots__ = (
        "api",
        "bodies",
        "body_required",
        "entity_params",
        "material",
        "method",
        "operation_id",
        "parameters",
        "pattern",
        "responses",
        "route",
        "scopes",
        "template",
        "upstream",
    )

    def __init__(self, route: Route, method: str, template: str, spec: Mapping[str, Any], doc: Mapping[str, Any]):
        components = doc.get("components", {})
        self.route = route
        self.api = route.config.api
        self.upstream = route.config.upstream
        self.method = method.upper()
        self.template = template
        self.operation_id = str(spec.get("operationId") or f"{self.method} {template}")
        security = spec.get("security", doc.get("security", []))
        #: Alternatives: the token must hold every scope of at least one (none listed: no scope needed).
        self.scopes: tuple[frozenset[str], ...] = tuple(
            frozenset(s for scopes in requirement.values() for s in scopes) for requirement in security
        )
        self.material = spec.get("x-financially-material") is True
        parameters = [*doc["paths"][template].get("parameters", []), *spec.get("parameters", [])]
        self.parameters = ParameterValidator(parameters, components)
        self.entity_params = frozenset(
            (p["in"], p["name"])
            for p in parameters
            if p.get("name") in ENTITY_FIELDS and p.get("in") in ("path", "query")
        )
        body = spec.get("requestBody") or {}
        self.body_required = bool(body.get("required"))
        #: media type → validator (None: accepted, not validated).
        self.bodies: dict[str, BodyValidator | None] = {}
        for media, content in (body.get("content") or {}).items():
            schema = content.get("schema")
            json_like = media == "application/json" or media.endswith("+json")
            self.bodies[media] = BodyValidator(schema, components) if json_like and schema else None
        self.responses: dict[int, BodyValidator] = {}
        for status, response in (spec.get("responses") or {}).items():
            schema = ((response.get("content") or {}).get("application/json") or {}).get("schema")
            if schema and str(status).isdigit():
                self.responses[int(status)] = BodyValidator(schema, components)
        rest = template[len(route.base) :]
        pattern = _PARAM.sub(
            # One non-empty segment that is not `.` or `..` (matched on the decoded path).
            lambda m: rf"(?P<{m.group(1)}>(?!\.\.?(?:/|\Z))[^/]+)",
            re.escape(rest).replace(r"\{", "{").replace(r"\}", "}"),
        )
        self.pattern = re.compile(pattern + r"\Z")

    def scope_ok(self, granted: frozenset[str]) -> bool:
        return not self.scopes or any(required <= granted for required in self.scopes)


class RouteTable:
    """Resolves requests: route by base (longest first), then operation by method and template."""

    def __init__(self, config: GatewayConfig, documents: Mapping[str, list[dict[str, Any]]]) -> None:
        routes = []
        for rc in config.routes:
            version = config.version(rc.api, rc.major)
            assert version is not None  # checked by parse_config
            routes.append(Route(rc, version))
        routes.sort(key=lambda r: -len(r.base))
        self._table: list[tuple[Route, list[Operation]]] = [(r, []) for r in routes]
        claimed: set[tuple[str, str]] = set()
        for route, ops in self._table:
            for doc in documents.get(route.config.upstream, []):
                for template, item in doc.get("paths", {}).items():
                    if template != route.base and not template.startswith(route.base + "/"):
                        continue
                    for method in _METHODS:
                        spec = item.get(method)
                        if spec is None or (method, template) in claimed:
                            continue
                        claimed.add((method, template))
                        ops.append(Operation(route, method, template, spec, doc))

    def resolve(self, method: str, path: str) -> tuple[Route, Operation | None, dict[str, str]]:
        """Route, operation and path parameters. A retired route matches no operation (410 later).

        NotFound for an unknown path (or version), MethodNotAllowed for a known path with a wrong method.
        """
        for route, ops in self._table:
            base = route.base
            if not path.startswith(base):
                continue
            rest = path[len(base) :]
            if rest and rest[0] != "/":
                continue
            if route.version.status == "retired":
                return route, None, {}
            allowed: list[str] = []
            for op in ops:
                match = op.pattern.match(rest)
                if match:
                    if op.method == method:
                        return route, op, match.groupdict()
                    allowed.append(op.method)
            if allowed:
                raise MethodNotAllowed(method, path, allowed)
        raise NotFound(f"No API operation at {path}.", slug="unknown-route", title="Unknown route")

    def operations(self) -> list[Operation]:
        return [op for _, ops in self._table for op in ops]

    def routes(self) -> list[Route]:
        return [route for route, _ in self._table]
