"""The gateway's declarative configuration (TOML → msgspec Structs, strict).

One file holds: `upstreams` (services and their timeouts/breaker), `routes` (public `/v{major}{prefix}`
→ upstream), the API catalogue `apis` (each version's lifecycle), trusted `issuers`, rate-limit
`tiers` and the `clients` registry. `parse_config` decodes strictly (unknown keys and wrong types
are errors) and then checks what the types cannot say (references, duplicates, dates). Every failure
is a ConfigError naming the file, the line and the field, e.g.
``gateway config x.toml line 12: Expected `int`, got `str` - at `$.routes[0].major```.
Operations (paths, methods, scopes, schemas) are not here: they come from the committed OpenAPI
documents each upstream names (`gateway.catalogue`).
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from gateway.errors import ConfigError

__all__ = [
    "ApiConfig",
    "ClientConfig",
    "GatewayConfig",
    "IssuerConfig",
    "LimitConfig",
    "RouteConfig",
    "TierConfig",
    "UpstreamConfig",
    "VersionConfig",
    "load_config",
    "parse_config",
]

_Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
_ClientId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
_Prefix = Annotated[str, msgspec.Meta(pattern=r"^(/[a-z0-9][a-z0-9-]*)*$")]
_Seconds = Annotated[float, msgspec.Meta(gt=0, le=300)]
_Major = Annotated[int, msgspec.Meta(ge=1, le=9)]
_Entity = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$")]
_Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s]+$")]
_Algorithm = Literal["ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"]


class UpstreamConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One upstream service. `url` is a fallback: the gateway setting `<name>_url` wins when it exists.

    `documents` are OpenAPI files (relative to the contracts directory) whose operations this
    upstream serves; a listed file that does not exist yet is skipped with a warning.
    """

    name: _Name
    url: _Url | None = None
    documents: list[str] = msgspec.field(default_factory=list)
    timeout: _Seconds = 10.0
    connect_timeout: _Seconds = 2.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    #: The longest `Retry-After` of a failing answer the gateway waits out before repeating an
    #: idempotent call; a longer one goes back to the caller as it is.
    max_retry_after: _Seconds = 1.0
    health_path: str = "/health/live"
    #: Open the circuit after this many consecutive failures; 503 until `breaker_cooldown` passed.
    breaker_threshold: Annotated[int, msgspec.Meta(ge=1)] = 5
    breaker_cooldown: _Seconds = 5.0


class RouteConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Public `/v{major}{prefix}/...` of API `api` goes to `upstream` (path unchanged).

    `tier` is the route's rate-limit tier; `validate_responses` checks upstream answers against the
    document in report-only mode (counted and logged, never blocking).
    """

    api: _Name
    major: _Major
    prefix: _Prefix
    upstream: _Name
    tier: _Name = "default"
    validate_responses: bool = False

    @property
    def base(self) -> str:
        return f"/v{self.major}{self.prefix}"


class VersionConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One major version's lifecycle. Deprecated needs `deprecated_at` and `sunset_at`."""

    major: _Major
    status: Literal["active", "deprecated", "retired"] = "active"
    deprecated_at: datetime | None = None
    sunset_at: datetime | None = None
    successor: _Major | None = None


class ApiConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: _Name
    versions: Annotated[list[VersionConfig], msgspec.Meta(min_length=1)]


class IssuerConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A trusted token issuer: tokens whose `iss` equals `issuer` verify against `jwks_url`, or without
    one against the `jwks_uri` of the issuer's OpenID discovery document (`<issuer>/.well-known/
    openid-configuration`, whose `issuer` must be exactly `issuer`)."""

    issuer: Annotated[str, msgspec.Meta(min_length=1)]
    jwks_url: _Url | None = None
    audiences: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(default_factory=lambda: ["fig"])
    algorithms: Annotated[list[_Algorithm], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["ES256"]
    )


class LimitConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """`requests` per `period` seconds (GCRA: the budget refills evenly, so no burst at a window edge)."""

    requests: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    period: Annotated[float, msgspec.Meta(gt=0, le=86_400)]


class TierConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A client rate-limit tier: one limit per route tier (`default` covers route tiers not listed)."""

    name: _Name
    limits: dict[_Name, LimitConfig]


class ClientConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A registered consumer: which API versions it may call (`"quote-to-cash" = [1]`), its tier, its entities.

    The entities a request may touch are those in both this list and the token's `legal_entities` claim.
    """

    client_id: _ClientId
    apis: dict[_Name, list[_Major]]
    tier: _Name = "standard"
    legal_entities: list[_Entity] = msgspec.field(default_factory=list)


class GatewayConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    upstreams: Annotated[list[UpstreamConfig], msgspec.Meta(min_length=1)]
    routes: Annotated[list[RouteConfig], msgspec.Meta(min_length=1)]
    apis: Annotated[list[ApiConfig], msgspec.Meta(min_length=1)]
    tiers: Annotated[list[TierConfig], msgspec.Meta(min_length=1)]
    clients: list[ClientConfig] = msgspec.field(default_factory=list)
    #: Empty: trust only the issuer of the gateway settings (FIG_TOKEN_ISSUER / FIG_IDP_URL).
    issuers: list[IssuerConfig] = msgspec.field(default_factory=list)

    def upstream(self, name: str) -> UpstreamConfig:
        return next(u for u in self.upstreams if u.name == name)

    def version(self, api: str, major: int) -> VersionConfig | None:
        for a in self.apis:
            if a.name == api:
                return next((v for v in a.versions if v.major == major), None)
        return None

    def client(self, client_id: str) -> ClientConfig | None:
        return next((c for c in self.clients if c.client_id == client_id), None)


def _unique(items: list[str], what: str, at: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise _Located(f"duplicate {what} {item!r}", f"{at}[{i}]")
        seen.add(item)


class _Located(Exception):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _check(config: GatewayConfig) -> None:
    _unique([u.name for u in config.upstreams], "upstream", "$.upstreams")
    _unique([a.name for a in config.apis], "api", "$.apis")
    _unique([t.name for t in config.tiers], "tier", "$.tiers")
    _unique([c.client_id for c in config.clients], "client", "$.clients")
    _unique([i.issuer for i in config.issuers], "issuer", "$.issuers")
    upstreams = {u.name for u in config.upstreams}
    bases: set[str] = set()
    for i, route in enumerate(config.routes):
        at = f"$.routes[{i}]"
        if route.upstream not in upstreams:
            known = ", ".join(sorted(upstreams))
            raise _Located(f"unknown upstream {route.upstream!r} (known: {known})", at + ".upstream")
        if config.version(route.api, route.major) is None:
            raise _Located(f"{route.api} v{route.major} is not in the API catalogue `apis`", at + ".api")
        if route.base in bases:
            raise _Located(f"{route.base} is routed twice", at + ".prefix")
        bases.add(route.base)
        for j, tier in enumerate(config.tiers):
            if route.tier not in tier.limits and "default" not in tier.limits:
                raise _Located(f"tier {tier.name!r} has no limit for route tier {route.tier!r}", f"$.tiers[{j}].limits")
    for i, api in enumerate(config.apis):
        majors = {v.major for v in api.versions}
        for j, v in enumerate(api.versions):
            at = f"$.apis[{i}].versions[{j}]"
            if v.status == "deprecated" and (v.deprecated_at is None or v.sunset_at is None):
                raise _Located("a deprecated version needs deprecated_at and sunset_at", at + ".status")
            for field in ("deprecated_at", "sunset_at"):
                value = getattr(v, field)
                if value is not None and value.tzinfo is None:
                    raise _Located("needs a time zone (e.g. 2026-12-31T00:00:00Z)", f"{at}.{field}")
            if v.deprecated_at and v.sunset_at and v.sunset_at < v.deprecated_at:
                raise _Located("sunset_at is before deprecated_at", at + ".sunset_at")
            if v.successor is not None and v.successor not in majors:
                raise _Located(f"successor v{v.successor} is not a version of {api.name}", at + ".successor")
    tiers = {t.name for t in config.tiers}
    apis = {a.name: {v.major for v in a.versions} for a in config.apis}
    for i, client in enumerate(config.clients):
        at = f"$.clients[{i}]"
        if client.tier not in tiers:
            raise _Located(f"unknown tier {client.tier!r}", at + ".tier")
        for api_name, wanted in client.apis.items():
            if api_name not in apis:
                raise _Located(f"unknown api {api_name!r}", f"{at}.apis")
            if not set(wanted) <= apis[api_name]:
                raise _Located(f"{api_name} has no version(s) {sorted(set(wanted) - apis[api_name])}", f"{at}.apis")


_SEGMENT = re.compile(r"\.(\w[\w-]*)|\[(\d+)\]")


def locate(text: str, path: str) -> int | None:
    """The 1-based line of `text` that JSON path `path` (`$.routes[1].major`) most likely points at.

    Walks the path: an index after `name` finds that `[[name]]` table (or array element line);
    a final key finds its `key =` line below the table found so far. Best effort: None if lost.
    """
    lines = text.splitlines()
    start, line_no = 0, None
    names: list[str] = []
    for match in _SEGMENT.finditer(path):
        key, index = match.group(1), match.group(2)
        if key is not None:
            names.append(key)
            pattern = re.compile(rf"^\s*(\[\[?[\w.-]*\b{re.escape(key)}\]\]?|\"?{re.escape(key)}\"?\s*=)")
            for n in range(start, len(lines)):
                if pattern.match(lines[n]):
                    start, line_no = n, n + 1
                    break
        elif index is not None and names:
            header = re.compile(rf"^\s*\[\[\s*{re.escape('.'.join(names))}\s*\]\]")
            count = -1
            for n in range(start, len(lines)):
                if header.match(lines[n]):
                    count += 1
                    if count == int(index):
                        start, line_no = n, n + 1
                        break
    return line_no


def parse_config(text: str, where: str = "gateway config") -> GatewayConfig:
    """Decode and check TOML text; raises ConfigError naming `where`, the line and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(data, type=GatewayConfig, strict=True)
        _check(config)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at ")
        path = path.strip("`")
        raise ConfigError(_message(text, where, message, path)) from None
    except _Located as exc:
        raise ConfigError(_message(text, where, exc.message, exc.path)) from None
    return config


def _message(text: str, where: str, message: str, path: str) -> str:
    line = locate(text, path) if path else None
    at = f" line {line}" if line else ""
    return f"{where}{at}: {message}" + (f" - at `{path}`" if path else "")


def load_config(path: str | None = None) -> GatewayConfig:
    """Read the configuration from `path`, or the embedded `gateway.toml` when `path` is None."""
    if path is None:
        return parse_config(
            resources.files("gateway").joinpath("gateway.toml").read_text(), "gateway/gateway.toml (embedded)"
        )
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"gateway config {path} (FIG_CONFIG_PATH): {exc}") from None
    return parse_config(text, f"gateway config {path}")
