"""Injected faults: for the next N calls matching a path pattern, misbehave in a chosen way."""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

import msgspec

__all__ = ["FaultBook", "FaultKind", "FaultSpec"]

FaultKind = Literal["status", "limit", "expire_sessions", "malformed", "latency"]


class FaultSpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One fault rule.

    `path` is a glob on the request path (`*` crosses `/`), e.g. `/services/data/*/query*`; the
    default covers the REST API but not the token endpoint (`/services/oauth2/token`);
    `kind`: `status` answers `status` with `error_code`; `limit` answers 403 REQUEST_LIMIT_EXCEEDED;
    `expire_sessions` expires every session, so the call (and later ones) get 401 INVALID_SESSION_ID;
    `malformed` answers 200 with a truncated JSON body; `latency` delays by `latency_ms` then proceeds.
    """

    kind: FaultKind
    path: str = "/services/data/*"
    method: str | None = None
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] = 503
    error_code: str = "SERVER_UNAVAILABLE"
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0
    count: Annotated[int, msgspec.Meta(ge=1)] = 1


class _Armed:
    __slots__ = ("remaining", "spec")

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self.remaining = spec.count


class FaultBook:
    """Armed faults in the order they were added; the first one matching a call fires and counts down."""

    def __init__(self) -> None:
        self._armed: list[_Armed] = []

    def add(self, spec: FaultSpec) -> None:
        self._armed.append(_Armed(spec))

    def clear(self) -> None:
        self._armed.clear()

    @property
    def armed(self) -> bool:
        """Whether any fault waits to fire."""
        return bool(self._armed)

    def pending(self) -> list[dict[str, object]]:
        return [{**msgspec.structs.asdict(a.spec), "remaining": a.remaining} for a in self._armed]

    def take(self, method: str, path: str) -> FaultSpec | None:
        for armed in self._armed:
            spec = armed.spec
            if spec.method and spec.method.upper() != method.upper():
                continue
            if not fnmatch.fnmatchcase(path, spec.path):
                continue
            armed.remaining -= 1
            if armed.remaining <= 0:
                self._armed.remove(armed)
            return spec
        return None
