"""The ERP system API, v1: accounting periods, posted actuals and reference data (read-only)."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from contracts import ActualsBatch, PeriodStatus
from contracts.model import MONTH_PATTERN
from servicekit import require_scopes
from system_apis.erp.connector import NetSuiteClient, ledger
from system_apis.erp.responses import problems
from system_apis.erp.schemas import AccountingPeriodList, CurrencyList, ItemList, SubsidiaryList, TaxCodeList

__all__ = [
    "ENTITY_PATTERN",
    "PERIOD_PATTERN",
    "get_actuals",
    "list_accounting_periods",
    "list_currencies",
    "list_items",
    "list_subsidiaries",
    "list_tax_codes",
]

ENTITY_PATTERN = r"^[A-Z]{2}[0-9]{2}$"
PERIOD_PATTERN = MONTH_PATTERN
EntityQuery = Annotated[str | None, QueryParameter(pattern=ENTITY_PATTERN, description="legal entity, e.g. DE01")]
_READ = [require_scopes("erp:read")]


@get(
    "/accounting-periods",
    operation_id="erp_list_accounting_periods",
    guards=_READ,
    responses=problems(401, 403, 404, 502, 503),
)
async def list_accounting_periods(
    netsuite: NamedDependency[NetSuiteClient],
    legal_entity: EntityQuery = None,
    status: Annotated[PeriodStatus | None, QueryParameter()] = None,
) -> AccountingPeriodList:
    """Accounting periods by entity and month, optionally of one entity (404 if the ERP lacks it) and status."""
    return AccountingPeriodList(
        items=await ledger.accounting_periods(netsuite, legal_entity=legal_entity, status=status)
    )


@get("/actuals", operation_id="erp_get_actuals", guards=_READ, responses=problems(401, 403, 404, 502, 503))
async def get_actuals(
    netsuite: NamedDependency[NetSuiteClient],
    legal_entity: Annotated[str, QueryParameter(pattern=ENTITY_PATTERN, description="legal entity, e.g. DE01")],
    period: Annotated[str, QueryParameter(pattern=PERIOD_PATTERN, description="accounting period YYYY-MM")],
) -> ActualsBatch:
    """Posted GL actuals of one entity and period, per account and product, in the entity's currency.

    Any period the ERP has, open or closed (the caller decides whether an open one is usable);
    404 for an entity or period the ERP does not have. Revenue and expenses are positive.
    """
    return await ledger.actuals(netsuite, legal_entity, period)


@get(
    "/reference/subsidiaries",
    operation_id="erp_list_subsidiaries",
    guards=_READ,
    responses=problems(401, 403, 502, 503),
)
async def list_subsidiaries(netsuite: NamedDependency[NetSuiteClient]) -> SubsidiaryList:
    """The ERP subsidiaries that are legal entities of the group, with base currency."""
    return SubsidiaryList(items=await ledger.subsidiaries(netsuite))


@get("/reference/items", operation_id="erp_list_items", guards=_READ, responses=problems(401, 403, 502, 503))
async def list_items(netsuite: NamedDependency[NetSuiteClient]) -> ItemList:
    """Sellable items: internal id, product code (CRM `ProductCode`) and revenue category."""
    return ItemList(items=await ledger.items(netsuite))


@get(
    "/reference/currencies",
    operation_id="erp_list_currencies",
    guards=_READ,
    responses=problems(401, 403, 502, 503),
)
async def list_currencies(netsuite: NamedDependency[NetSuiteClient]) -> CurrencyList:
    """Currencies of the ERP account: internal id and ISO code."""
    return CurrencyList(items=await ledger.currencies(netsuite))


@get(
    "/reference/tax-codes",
    operation_id="erp_list_tax_codes",
    guards=_READ,
    responses=problems(401, 403, 404, 502, 503),
)
async def list_tax_codes(netsuite: NamedDependency[NetSuiteClient], legal_entity: EntityQuery = None) -> TaxCodeList:
    """Tax codes (rate in percent), optionally of one legal entity."""
    return TaxCodeList(items=await ledger.tax_codes(netsuite, legal_entity=legal_entity))
