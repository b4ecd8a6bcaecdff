"""Typed settings from `FIG_`-prefixed environment variables, validated once at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal, TypeVar

import msgspec

__all__ = ["ENV_PREFIX", "ServiceSettings", "SettingsError", "env_name", "load_settings"]

ENV_PREFIX = "FIG_"

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class ServiceSettings(msgspec.Struct, kw_only=True, frozen=True):
    """What every service needs. Services subclass it and add their own fields with defaults."""

    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    #: Longest wait in seconds for each part of a request body (then 408, connection closed).
    body_chunk_timeout: float = 5.0
    #: Longest time in seconds a whole request body may take to arrive (then 408, connection closed).
    body_timeout: float = 30.0
    #: Where spans go: `none`, `console` or `otlp` (then `OTEL_EXPORTER_OTLP_*` say where and how).
    #: Unset: `OTEL_TRACES_EXPORTER`, else `none`.
    otel_exporter: Literal["none", "console", "otlp"] | None = None
    #: OpenTelemetry metrics, served at `/metrics` in the Prometheus text format.
    metrics: bool = True
    #: One JSON access-log line per request at INFO (turn off for benchmarks).
    access_log: bool = True
    #: Where service tokens come from (the dev identity provider locally, a real issuer in production).
    idp_url: str = "http://127.0.0.1:8400"
    #: JWKS used to verify service-to-service tokens; defaults to `{idp_url}/.well-known/jwks.json`.
    jwks_url: str | None = None
    token_issuer: str = "http://127.0.0.1:8400"
    token_audience: str = "fig"
    #: The JOSE `typ` every accepted token must carry (RFC 9068 access tokens: `at+jwt`); empty
    #: accepts any type (for an issuer that does not mark its access tokens).
    token_type: str = "at+jwt"
    #: Longest time (s) a fetched JWKS is trusted, whatever its `Cache-Control: max-age` says; a key
    #: removed from the set stops verifying at most this long after (plus the token caches' share).
    jwks_max_age: float = 300.0
    #: Least seconds between two JWKS fetches (unknown key ids, expired sets, failed fetches).
    jwks_refresh_interval: float = 10.0
    #: Verify bearer tokens on the service's API routes. Only tests switch it off.
    auth_required: bool = True

    @property
    def effective_jwks_url(self) -> str:
        return self.jwks_url or f"{self.idp_url.rstrip('/')}/.well-known/jwks.json"


def env_name(field: str, prefix: str = ENV_PREFIX) -> str:
    return prefix + field.upper()


_PATH_FIELD = re.compile(r"\$\.(\w+)")


def load_settings(cls: type[S], environ: Mapping[str, str] | None = None, prefix: str = ENV_PREFIX) -> S:
    """Build `cls` from `FIG_<FIELD>` variables; fields not set keep their defaults.

    Raises SettingsError naming the variable when a value does not convert or a required one is missing.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for field in msgspec.structs.fields(cls):
        value = env.get(env_name(field.name, prefix))
        if value is not None:
            raw[field.name] = value
    try:
        return msgspec.convert(raw, type=cls, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _PATH_FIELD.search(text)
        if match:
            name = env_name(match.group(1), prefix)
            shown = raw.get(match.group(1))
            got = f" (got {shown!r})" if shown is not None else ""
            raise SettingsError(f"{name}{got}: {text.split(' - at ', maxsplit=1)[0]}") from None
        missing = re.search(r"missing required field `(\w+)`", text)
        if missing:
            raise SettingsError(f"{env_name(missing.group(1), prefix)} is required but not set") from None
        raise SettingsError(text) from None
