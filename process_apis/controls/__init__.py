"""Controls applied to workflow runs: mapping sets (validation rule sets come later)."""

from __future__ import annotations

from process_apis.controls.mapping import (
    EntityMapping,
    MappingSet,
    MappingSetError,
    ProductMapping,
    load_mapping_set,
)

__all__ = ["EntityMapping", "MappingSet", "MappingSetError", "ProductMapping", "load_mapping_set"]
