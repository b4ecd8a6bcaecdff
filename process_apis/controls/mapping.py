"""Mapping sets: versioned data that turns CRM dimensions into ERP ones.

A mapping set is a JSON file in `process_apis/controls/mappings/`; a run records the version it
used. Editing APIs and rule sets come later: this module is the seam they will write through.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Annotated

import msgspec

from contracts import CurrencyCode, EntityCode

__all__ = ["EntityMapping", "MappingSet", "MappingSetError", "ProductMapping", "affected_entities", "load_mapping_set"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class MappingSetError(ValueError):
    """The mapping set does not exist or does not match its schema."""


class EntityMapping(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where a CRM region books: legal entity, ERP subsidiary and the currencies it may sell in."""

    legal_entity: EntityCode
    subsidiary_id: str
    currencies: Annotated[list[CurrencyCode], msgspec.Meta(min_length=1)]


class ProductMapping(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """The ERP item a CRM product code is sold as, and its revenue category."""

    item_id: str
    revenue_category: str


class MappingSet(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    version: str
    regions: dict[str, EntityMapping]
    products: dict[str, ProductMapping]
    description: str = ""

    def entity_for(self, region: str | None) -> EntityMapping | None:
        return self.regions.get(region) if region is not None else None

    def product(self, code: str) -> ProductMapping | None:
        return self.products.get(code)


def affected_entities(old: MappingSet, new: MappingSet) -> set[str]:
    """The legal entities whose runs a change from `old` to `new` affects.

    A changed region affects the entities it mapped to before and after; a changed product mapping
    affects every entity of either version, since any entity may sell the product.
    """
    touched: set[str] = set()
    for region in old.regions.keys() | new.regions.keys():
        before, after = old.regions.get(region), new.regions.get(region)
        if before != after:
            touched.update(e.legal_entity for e in (before, after) if e is not None)
    if old.products != new.products:
        touched.update(e.legal_entity for m in (old, new) for e in m.regions.values())
    return touched


def load_mapping_set(name: str = "default-v1") -> MappingSet:
    """Load and strictly decode `mappings/<name>.json` shipped in this package."""
    if not _NAME.match(name):
        raise MappingSetError(f"mapping set name {name!r} is not a plain file name")
    resource = resources.files("process_apis.controls.mappings").joinpath(f"{name}.json")
    try:
        raw = resource.read_bytes()
    except FileNotFoundError:
        raise MappingSetError(f"no mapping set {name!r} in process_apis/controls/mappings/") from None
    try:
        return msgspec.json.decode(raw, type=MappingSet, strict=True)
    except msgspec.DecodeError as exc:
        raise MappingSetError(f"mapping set {name!r} is invalid: {exc}") from None
