"""The gateway's declarative configuration: upstreams and the route table (TOML → msgspec, strict).

`load_config` reads the file given (or the embedded `gateway.toml`), decodes it strictly and checks
what the types cannot say (references, duplicates, path templates). Every failure is a ConfigError
naming the file and the field, e.g. ``... - at `$.apis[0].operations[1].method```.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from gateway.errors import ConfigError

__all__ = ["ApiConfig", "GatewayConfig", "OperationConfig", "UpstreamConfig", "load_config", "parse_config"]

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
#: The upstream OpenAPI document's operationId, so scopes can later come from its `security`.
_OperationId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,79}$")]
_Prefix = Annotated[str, msgspec.Meta(pattern=r"^(/[a-z0-9][a-z0-9-]*)+$")]
_Template = Annotated[str, msgspec.Meta(pattern=r"^(/([A-Za-z0-9._~-]+|\{[a-z_][a-z0-9_]*\}))+$")]
_Scope = Annotated[str, msgspec.Meta(pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]
_Seconds = Annotated[float, msgspec.Meta(gt=0, le=300)]

_PARAM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class UpstreamConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One upstream service. `url` is a fallback: the gateway setting `<name>_url` wins when it exists."""

    url: str | None = None
    timeout: _Seconds = 10.0
    connect_timeout: _Seconds = 2.0
    retries: Annotated[int, msgspec.Meta(ge=0, le=5)] = 2
    health_path: str = "/health/live"
    #: Open the circuit after this many consecutive failures; 503 until `breaker_cooldown` passed.
    breaker_threshold: Annotated[int, msgspec.Meta(ge=1)] = 5
    breaker_cooldown: _Seconds = 5.0


class OperationConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One public operation: method + path template under its API, and the scopes it needs."""

    operation_id: _OperationId
    method: Method
    path: _Template
    scopes: list[_Scope] = msgspec.field(default_factory=list)


class ApiConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A published API version: `/v{major}{prefix}` routed to `upstream`.

    The upstream receives the public path unchanged unless `upstream_prefix` replaces `/v{major}{prefix}`.
    """

    name: _Name
    major: Annotated[int, msgspec.Meta(ge=1, le=99)]
    prefix: _Prefix
    upstream: _Name
    operations: Annotated[list[OperationConfig], msgspec.Meta(min_length=1)]
    upstream_prefix: Annotated[str, msgspec.Meta(pattern=r"^(/[A-Za-z0-9._~-]+)*$")] | None = None

    @property
    def base(self) -> str:
        return f"/v{self.major}{self.prefix}"


class GatewayConfig(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    upstreams: dict[_Name, UpstreamConfig]
    apis: Annotated[list[ApiConfig], msgspec.Meta(min_length=1)]


def _check(config: GatewayConfig, where: str) -> None:
    bases: dict[str, int] = {}
    operation_ids: set[str] = set()
    for i, api in enumerate(config.apis):
        at = f"$.apis[{i}]"
        if api.upstream not in config.upstreams:
            known = ", ".join(sorted(config.upstreams)) or "none"
            raise ConfigError(f"{where}: unknown upstream {api.upstream!r} (known: {known}) - at `{at}.upstream`")
        if api.base in bases:
            raise ConfigError(f"{where}: {api.base} is already routed by apis[{bases[api.base]}] - at `{at}.prefix`")
        bases[api.base] = i
        seen: set[tuple[str, str]] = set()
        for j, op in enumerate(api.operations):
            op_at = f"{at}.operations[{j}]"
            shape = (op.method, _PARAM.sub("{}", op.path))
            if shape in seen:
                raise ConfigError(f"{where}: {op.method} {op.path} is routed twice - at `{op_at}.path`")
            seen.add(shape)
            params = _PARAM.findall(op.path)
            if len(params) != len(set(params)):
                raise ConfigError(f"{where}: repeated path parameter in {op.path} - at `{op_at}.path`")
            if op.operation_id in operation_ids:
                raise ConfigError(f"{where}: duplicate operation_id {op.operation_id!r} - at `{op_at}.operation_id`")
            operation_ids.add(op.operation_id)


def parse_config(text: str, where: str = "gateway config") -> GatewayConfig:
    """Decode and check TOML text; raises ConfigError naming `where` and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    try:
        config = msgspec.convert(data, type=GatewayConfig, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    _check(config, where)
    return config


def load_config(path: str | None = None) -> GatewayConfig:
    """Read the route table from `path`, or the embedded default when `path` is None."""
    if path is None:
        return parse_config(
            resources.files("gateway").joinpath("gateway.toml").read_text(), "gateway/gateway.toml (embedded)"
        )
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"gateway config {path} (FIG_CONFIG_PATH): {exc}") from None
    return parse_config(text, f"gateway config {path}")
