"""Shapes of the ERP system API beyond the canonical model."""

from __future__ import annotations

import msgspec

from contracts import AccountingPeriod, LegalEntity, SalesOrder
from system_apis.erp.models import ErpCurrency, ErpItem, TaxCode

__all__ = ["AccountingPeriodList", "CurrencyList", "ItemList", "SalesOrderPage", "SubsidiaryList", "TaxCodeList"]


class SalesOrderPage(msgspec.Struct, kw_only=True, frozen=True):
    """One page of sales orders; pass `next_cursor` as `cursor` for the next (absent on the last)."""

    items: list[SalesOrder]
    next_cursor: str | None = None


class AccountingPeriodList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[AccountingPeriod]


class SubsidiaryList(msgspec.Struct, kw_only=True, frozen=True):
    """The subsidiaries that are legal entities of the group (`erp_subsidiary_id` = NetSuite id)."""

    items: list[LegalEntity]


class ItemList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[ErpItem]


class CurrencyList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[ErpCurrency]


class TaxCodeList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[TaxCode]
