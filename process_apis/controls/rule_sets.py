"""Validation rule sets: versioned data saying which controls a gate applies (files in `rules/`)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Literal

import msgspec

__all__ = ["Rule", "RuleId", "RuleSet", "latest_file_version", "load_rule_set"]

RuleId = Literal[
    "approval_status",
    "mandatory_dimensions",
    "entity_mapping",
    "currency_allowed",
    "tax_jurisdiction_present",
    "product_mapping",
    "lines_sum_to_amount",
]
_FILE = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]{0,63})-v(?P<n>[0-9]{1,6})\.json$")


class Rule(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One control; `fields` parameterises `mandatory_dimensions`."""

    id: RuleId
    enabled: bool = True
    description: str = ""
    fields: list[str] = msgspec.field(default_factory=list)


class RuleSet(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A named, versioned list of controls (`version` = `<name>-v<n>`)."""

    version: str
    rules: list[Rule]
    description: str = ""

    def enabled(self, rule: RuleId) -> bool:
        return any(r.id == rule and r.enabled for r in self.rules)

    def fields(self, rule: RuleId) -> list[str]:
        return next((r.fields for r in self.rules if r.id == rule and r.enabled), [])


def latest_file_version(package: str, name: str) -> int | None:
    """The highest `n` of `<name>-v<n>.json` shipped in `package`, or None."""
    versions = [
        int(m["n"])
        for entry in resources.files(package).iterdir()
        if (m := _FILE.match(entry.name)) is not None and m["name"] == name
    ]
    return max(versions) if versions else None


def load_rule_set(name: str = "quote-to-cash", version: int | None = None) -> RuleSet:
    """Load `rules/<name>-v<n>.json` (the latest when `version` is None); ValueError if absent or invalid."""
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,63}$", name):
        raise ValueError(f"rule set name {name!r} is not a plain name")
    n = version if version is not None else latest_file_version("process_apis.controls.rules", name)
    if n is None:
        raise ValueError(f"no rule set {name!r} in process_apis/controls/rules/")
    resource = resources.files("process_apis.controls.rules").joinpath(f"{name}-v{n}.json")
    try:
        return msgspec.json.decode(resource.read_bytes(), type=RuleSet, strict=True)
    except FileNotFoundError:
        raise ValueError(f"no rule set {name!r} version {n}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"rule set {name}-v{n} is invalid: {exc}") from None
