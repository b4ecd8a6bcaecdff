"""Fault injection for the next N matching requests: latency, 5xx, 429, expired token, malformed body."""

from __future__ import annotations

import fnmatch
from typing import Annotated, Literal

import msgspec

__all__ = ["Fault", "FaultKind", "Faults"]

FaultKind = Literal["latency", "error", "throttle", "expired_token", "malformed"]


class Fault(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`match` is a glob on `"METHOD /path"` or on the path alone, e.g. `"PUT */salesOrder/*"`."""

    match: str
    kind: FaultKind
    count: Annotated[int, msgspec.Meta(ge=1)] = 1
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=60_000)] = 0
    status: Annotated[int, msgspec.Meta(ge=500, le=599)] = 503

    def matches(self, method: str, path: str) -> bool:
        if " " in self.match:
            return fnmatch.fnmatchcase(f"{method} {path}", self.match)
        return fnmatch.fnmatchcase(path, self.match)


class Faults:
    """Armed faults, first match wins; each use consumes one of its `count`."""

    def __init__(self) -> None:
        self.armed: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.armed.append(fault)

    def clear(self) -> None:
        self.armed.clear()

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.armed:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.armed.remove(fault)
                return fault
        return None
