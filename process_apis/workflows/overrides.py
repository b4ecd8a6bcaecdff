"""Overridden values a second person approved for one quote-to-cash run (a force-retry proposal).

They change what validation decides for that run only, never the shared controls: the deal's
region books to the approved legal entity (its subsidiary and currencies from the active mapping
set), and the account counts as having the approved tax jurisdiction. A run without overrides pays
one attribute check per step.
"""

from __future__ import annotations

import msgspec

from contracts import Account
from process_apis.controls import MappingSet
from process_apis.schemas import QuoteToCashRun, RunOverrides

__all__ = ["describe", "entity_codes", "overridden_account", "overridden_mapping"]


def entity_codes(mapping: MappingSet) -> set[str]:
    """The legal entities a mapping set books to: what a `legal_entity` override may name."""
    return {entity.legal_entity for entity in mapping.regions.values()}


def overridden_mapping(mapping: MappingSet, run: QuoteToCashRun, region: str | None) -> MappingSet:
    """`mapping` with the run's region mapped to its overriding entity; unchanged without one.

    An entity no longer in the mapping set leaves the mapping as it is, so validation refuses the
    run visibly as before instead of booking somewhere nobody approved.
    """
    overrides = run.overrides
    if overrides is None or overrides.legal_entity is None or region is None:
        return mapping
    entity = next((e for e in mapping.regions.values() if e.legal_entity == overrides.legal_entity), None)
    if entity is None:
        return mapping
    return msgspec.structs.replace(mapping, regions={**mapping.regions, region: entity})


def overridden_account(account: Account | None, run: QuoteToCashRun) -> Account | None:
    """The account with the run's approved tax jurisdiction where the CRM has none."""
    overrides = run.overrides
    if account is None or overrides is None or overrides.tax_jurisdiction is None:
        return account
    return msgspec.structs.replace(account, tax_jurisdiction=overrides.tax_jurisdiction)


def describe(overrides: RunOverrides) -> str:
    """`legal_entity=US01, tax_jurisdiction=US-NY`: the values, for histories and audit entries."""
    return ", ".join(f"{name}={value}" for name, value in msgspec.structs.asdict(overrides).items() if value)
