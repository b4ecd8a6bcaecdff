"""Shapes of the ERP system API beyond the canonical model."""

from __future__ import annotations

import msgspec

from contracts import SalesOrder

__all__ = ["SalesOrderPage"]


class SalesOrderPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of sales orders; pass `next_cursor` as `cursor` for the next (absent on the last)."""

    items: list[SalesOrder]
    next_cursor: str | None = None
