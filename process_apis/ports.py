"""What the workflows need from the outside world, one small Protocol per capability.

The httpx adapters in `process_apis.adapters` implement them against the system APIs; tests pass
fakes. Every method raises only `process_apis.errors` types.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

import msgspec

from contracts import (
    Account,
    AccountingPeriod,
    ActualsBatch,
    CommittedBooking,
    CommittedBookingsLoad,
    Customer,
    CustomerMasterUpdate,
    CustomerUpsert,
    ForecastVersion,
    LegalEntity,
    Opportunity,
    PlanningImportResult,
    SalesOrder,
    SalesOrderUpsert,
)

__all__ = [
    "CrmMasterPort",
    "CrmPort",
    "CrmWonPort",
    "ErpLedgerPort",
    "ErpMasterPort",
    "ErpOrdersPort",
    "ErpPort",
    "ErpReferencePort",
    "PlanningActualsPort",
    "PlanningBookingsPort",
    "PlanningPort",
    "PlanningVersionsPort",
    "ReferenceCurrency",
    "ReferenceItem",
    "ReferenceTaxCode",
    "VersionedBookings",
]


class CrmPort(Protocol):
    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        """The opportunity with its lines; raises OpportunityNotFound."""
        ...

    async def get_account(self, account_id: str) -> Account | None:
        """The CRM account, or None if CRM has no such account."""
        ...


class ErpPort(Protocol):
    async def upsert_customer(self, external_id: str, command: CustomerUpsert, *, idempotency_key: str) -> Customer:
        """Create or update the customer with this external id."""
        ...

    async def upsert_sales_order(
        self, external_id: str, command: SalesOrderUpsert, *, idempotency_key: str
    ) -> SalesOrder:
        """Create or update the sales order with this external id."""
        ...

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        """The sales order by its ERP internal id."""
        ...

    async def close_sales_order(self, order_id: str) -> SalesOrder:
        """Close the sales order (by ERP internal id) that is not booked yet; closing twice is harmless.

        DownstreamRejected with `downstream_status` 409 when the ERP refuses (booked, fulfilled, billed).
        """
        ...


class PlanningPort(Protocol):
    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        """Load committed-bookings cells; the result says which rows the planning platform rejected."""
        ...


class CrmMasterPort(Protocol):
    async def get_account(self, account_id: str) -> Account | None:
        """The CRM account as it is now, or None."""
        ...

    async def patch_account(self, account_id: str, update: CustomerMasterUpdate, *, idempotency_key: str) -> Account:
        """Apply ERP-owned customer-master fields to the CRM account."""
        ...


class ErpMasterPort(Protocol):
    async def get_customer(self, key: str) -> Customer | None:
        """The ERP customer (key = internal or external id) as it is now, or None."""
        ...

    async def patch_customer(self, key: str, update: CustomerMasterUpdate, *, idempotency_key: str) -> Customer:
        """Apply CRM-owned customer-master fields to the ERP customer (key = external id)."""
        ...


class ErpLedgerPort(Protocol):
    async def periods(self, legal_entity: str, status: str | None = None) -> list[AccountingPeriod]:
        """The entity's accounting periods, optionally only `open` or `closed` ones."""
        ...

    async def actuals(self, legal_entity: str, period: str) -> ActualsBatch:
        """Posted actuals of an entity and period."""
        ...


class PlanningActualsPort(Protocol):
    async def load_actuals(self, batch: ActualsBatch, *, idempotency_key: str) -> PlanningImportResult:
        """Import actuals into the planning platform's Actuals version."""
        ...


class CrmWonPort(Protocol):
    async def won_opportunities(self, period: str, region: str) -> list[Opportunity]:
        """Closed-won opportunities of a region closing in the period (every page)."""
        ...


class ErpOrdersPort(Protocol):
    async def sales_orders(self, legal_entity: str, period: str) -> list[SalesOrder]:
        """Sales orders of an entity dated in the period (every page)."""
        ...


class VersionedBookings(msgspec.Struct, kw_only=True, frozen=True):
    """Committed-bookings cells with the planning version they belong to (None: the platform named none)."""

    items: list[CommittedBooking]
    version: ForecastVersion | None = None


class PlanningBookingsPort(Protocol):
    async def committed_bookings(self, legal_entity: str, period: str) -> VersionedBookings:
        """Committed-bookings cells of an entity and period as the planning platform holds them, with
        their version (`published` only if it stayed published throughout the read)."""
        ...


class PlanningVersionsPort(Protocol):
    async def forecast_versions(self) -> list[ForecastVersion]:
        """Every version of the planning model, with whether it is published (locked)."""
        ...


class ReferenceCurrency(msgspec.Struct, kw_only=True, frozen=True):
    """An ERP currency: internal id and ISO code."""

    id: str
    code: str


class ReferenceItem(msgspec.Struct, kw_only=True, frozen=True):
    """A sellable ERP item, the CRM product code it is sold as and its revenue category."""

    id: str
    product_code: str
    revenue_category: str | None = None


class ReferenceTaxCode(msgspec.Struct, kw_only=True, frozen=True):
    """An ERP tax code, its rate in percent and the legal entity it belongs to; the jurisdictions
    it is the default for, and the one item revenue category it is limited to (None: every one)."""

    id: str
    code: str
    rate: Decimal
    legal_entity: str | None = None
    jurisdictions: list[str] = msgspec.field(default_factory=list)
    revenue_category: str | None = None


class ErpReferencePort(Protocol):
    """The ERP's low-volatility reference data (read on a schedule, not per deal)."""

    async def subsidiaries(self) -> list[LegalEntity]:
        """The subsidiaries that are legal entities of the group."""
        ...

    async def currencies(self) -> list[ReferenceCurrency]: ...

    async def items(self) -> list[ReferenceItem]: ...

    async def tax_codes(self) -> list[ReferenceTaxCode]: ...
