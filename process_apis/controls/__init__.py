"""Controls applied to workflow runs: versioned mapping sets and validation rule sets."""

from __future__ import annotations

from typing import Protocol

from process_apis.controls.mapping import (
    EntityMapping,
    MappingSet,
    MappingSetError,
    ProductMapping,
    load_mapping_set,
)
from process_apis.controls.rule_sets import Rule, RuleSet, load_rule_set
from process_apis.controls.store import ControlStore, MappingSetBody, StaticControls, validate_mapping

__all__ = [
    "ControlSource",
    "ControlStore",
    "EntityMapping",
    "MappingSet",
    "MappingSetBody",
    "MappingSetError",
    "ProductMapping",
    "Rule",
    "RuleSet",
    "StaticControls",
    "load_mapping_set",
    "load_rule_set",
    "validate_mapping",
]


class ControlSource(Protocol):
    @property
    def version_key(self) -> str | None:
        """The Redis key naming the active mapping set version (None: the controls never change).

        A caller that reads it anyway (a run's lease pipeline) passes the value to `current_at`.
        """
        ...

    async def current(self) -> tuple[MappingSet, RuleSet]:
        """The mapping set and rule set a workflow step applies now."""
        ...

    async def current_at(self, version: bytes | None) -> tuple[MappingSet, RuleSet]:
        """The same, given the value of `version_key` as just read."""
        ...
