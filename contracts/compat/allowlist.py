"""The checked-in allow-list of accepted breaking changes: each entry names rule, location and reason.

```toml
[[accepted]]
api = "process"            # optional: only for this API
version = "v1"             # optional
rule = "response-media-type-removed"
location = "GET /v1/quote-to-cash/runs/{run_id} response 400 application/json"   # fnmatch pattern
reason = "why the break is acceptable (who agreed, which consumers were told)"
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Annotated

import msgspec

from contracts.compat.changes import Change

__all__ = ["AcceptedBreak", "apply_allowlist", "load_allowlist"]


class AcceptedBreak(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One accepted breaking change."""

    rule: str
    location: str
    reason: Annotated[str, msgspec.Meta(min_length=10)]
    api: str | None = None
    version: str | None = None

    def matches(self, change: Change, api: str | None, version: str | None) -> bool:
        return (
            change.rule == self.rule
            and fnmatchcase(change.location, self.location)
            and self.api in (None, api)
            and self.version in (None, version)
        )


class _File(msgspec.Struct, forbid_unknown_fields=True):
    accepted: list[AcceptedBreak] = msgspec.field(default_factory=list)


def load_allowlist(path: Path) -> list[AcceptedBreak]:
    """Read the allow-list (empty when the file does not exist); a malformed file raises ValueError."""
    if not path.exists():
        return []
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), _File).accepted
    except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def apply_allowlist(
    changes: Iterable[Change], allowlist: Iterable[AcceptedBreak], *, api: str | None = None, version: str | None = None
) -> list[Change]:
    """The changes with `accepted` set to the reason on breaking ones the allow-list accepts."""
    entries = list(allowlist)
    out = []
    for change in changes:
        match = next((e for e in entries if e.matches(change, api, version)), None) if change.breaking else None
        out.append(msgspec.structs.replace(change, accepted=match.reason) if match else change)
    return out
