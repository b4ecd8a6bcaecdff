"""Canonical reference-data resources the ERP API serves that `contracts` does not define (yet).

They belong in `contracts.model` once another service consumes them; until then they live here so
the ERP API's OpenAPI document describes them. Subsidiaries use `contracts.LegalEntity`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from contracts import CurrencyCode, EntityCode

__all__ = ["ErpCurrency", "ErpItem", "RevenueCategory", "TaxCode"]

RevenueCategory = Literal["subscription", "support", "services"]


class ErpItem(msgspec.Struct, kw_only=True, frozen=True):
    """A sellable ERP item; `product_code` is the CRM product code (NetSuite `itemId`)."""

    id: str
    product_code: str
    name: str
    revenue_category: RevenueCategory | None = None


class ErpCurrency(msgspec.Struct, kw_only=True, frozen=True):
    """A currency of the ERP account: its NetSuite internal id and ISO code."""

    id: str
    code: CurrencyCode
    name: str


class TaxCode(msgspec.Struct, kw_only=True, frozen=True):
    """A tax code of one legal entity; `rate` is in percent (a decimal string, e.g. "19.00").

    `jurisdictions`: the tax jurisdictions (`US-NY`, `DE`) the code is the default for;
    `revenue_category`: the only item category it applies to (None: every category).
    """

    id: str
    code: str
    description: str
    rate: Decimal
    country: str
    legal_entity: EntityCode | None = None
    jurisdictions: list[str] = msgspec.field(default_factory=list)
    revenue_category: RevenueCategory | None = None
