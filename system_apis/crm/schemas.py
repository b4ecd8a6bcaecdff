"""API-specific shapes of the CRM system API beyond the canonical model."""

from __future__ import annotations

import msgspec

from contracts import Opportunity

__all__ = ["OpportunityPage"]


class OpportunityPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of changed opportunities in (last modified, id) order; follow `next_cursor` until null."""

    items: list[Opportunity]
    next_cursor: str | None = None
