"""Breaking-change detection between OpenAPI documents, the allow-list, and consumer expectations.

Imports nothing of the project but `contracts` (it runs in CI and in consumers' pipelines).
"""

from __future__ import annotations

from contracts.compat.allowlist import AcceptedBreak, apply_allowlist, load_allowlist
from contracts.compat.changes import Change, compare_schemas
from contracts.compat.consumers import ConsumerExpectations, Expectation, check_consumer, load_consumers
from contracts.compat.diff import diff_documents, operations

__all__ = [
    "AcceptedBreak",
    "Change",
    "ConsumerExpectations",
    "Expectation",
    "apply_allowlist",
    "check_consumer",
    "compare_schemas",
    "diff_documents",
    "load_allowlist",
    "load_consumers",
    "operations",
]
