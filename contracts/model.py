"""The canonical finance model: what every layer agrees a customer, an order or a booking is.

Values are frozen msgspec Structs. Commands (what a client sends) forbid unknown fields; resources
(what a service returns) may grow optional fields within a major version.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from contracts.money import POSITIVE_DECIMAL_PATTERN, CurrencyCode, Money

__all__ = [
    "MONTH_PATTERN",
    "Account",
    "AccountingPeriod",
    "ActualsBatch",
    "ActualsLine",
    "ApprovalStatus",
    "CommittedBooking",
    "CommittedBookingsLoad",
    "Customer",
    "CustomerMasterChanges",
    "CustomerMasterUpdate",
    "CustomerUpsert",
    "EntityCode",
    "ForecastVersion",
    "LegalEntity",
    "Opportunity",
    "OpportunityLine",
    "Period",
    "PeriodStatus",
    "PlanningImportResult",
    "RejectedRow",
    "SalesOrder",
    "SalesOrderLine",
    "SalesOrderStatus",
    "SalesOrderUpsert",
]

EntityCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["US01"])]
#: A calendar month `YYYY-MM` of year 0001 or later: no system has a year 0, and the CRM and ERP
#: refuse one, so query filters publish this pattern instead of the looser one of `Period`.
MONTH_PATTERN = r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])$"
Period = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
ExternalId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["SF-006000000000001"])]

ApprovalStatus = Literal["approved", "pending", "rejected", "not_submitted"]
SalesOrderStatus = Literal[
    "pending_approval",
    "pending_fulfillment",
    "cancelled",
    "partially_fulfilled",
    "pending_billing_partially_fulfilled",
    "pending_billing",
    "billed",
    "closed",
]


class LegalEntity(msgspec.Struct, kw_only=True, frozen=True):
    """A company of the group: the unit a ledger, a plan and an authorisation are scoped to."""

    code: EntityCode
    name: str
    country: str
    base_currency: CurrencyCode
    erp_subsidiary_id: str


class OpportunityLine(msgspec.Struct, kw_only=True, frozen=True):
    product_code: str
    quantity: Decimal
    unit_price: Money
    total: Money


class Opportunity(msgspec.Struct, kw_only=True, frozen=True):
    """A CRM deal. CRM is the source of commercial intent (DESIGN.md section 3)."""

    id: str
    name: str
    account_id: str
    stage: str
    is_closed: bool
    is_won: bool
    approval_status: ApprovalStatus
    amount: Money
    close_date: date
    last_modified: datetime
    account_name: str | None = None
    region: str | None = None
    owner: str | None = None
    lines: list[OpportunityLine] = msgspec.field(default_factory=list)


class Account(msgspec.Struct, kw_only=True, frozen=True):
    """A CRM account: the commercial half of the customer master."""

    id: str
    name: str
    last_modified: datetime
    billing_country: str | None = None
    currency: CurrencyCode | None = None
    region: str | None = None
    industry: str | None = None
    tax_jurisdiction: str | None = None
    erp_customer_id: str | None = None
    email: str | None = None
    #: ERP-owned mirrors, copied from the ERP customer by the customer-master sync (read-only in CRM).
    subsidiary_id: str | None = None
    terms: str | None = None
    credit_limit: Money | None = None


class Customer(msgspec.Struct, kw_only=True, frozen=True):
    """An ERP customer: the financial half of the customer master."""

    id: str
    name: str
    subsidiary_id: str
    currency: CurrencyCode
    external_id: str | None = None
    email: str | None = None
    terms: str | None = None
    credit_limit: Money | None = None
    last_modified: datetime | None = None
    #: Commercial fields the CRM owns, mirrored on the ERP customer by the customer-master sync.
    region: str | None = None
    industry: str | None = None
    billing_country: str | None = None
    #: ERP-owned, kept on the customer for tax determination.
    tax_jurisdiction: str | None = None


class CustomerUpsert(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Create-or-update of an ERP customer; the external id is in the path."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    subsidiary_id: str
    currency: CurrencyCode
    email: str | None = None
    #: Commercial fields the CRM owns: a new customer's initial values, so a customer quote-to-cash
    #: creates holds them without a later sync write. An existing customer keeps its own (the
    #: customer-master sync maintains them).
    region: str | None = None
    industry: str | None = None
    billing_country: str | None = None


class SalesOrderLine(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One order line. `quantity` must be positive (msgspec cannot bound a Decimal, so it is checked here).

    `tax_code_id` is the ERP tax code of the line (its internal id); the ERP refuses one that is
    unknown or belongs to another subsidiary than the order's.
    """

    item_id: str
    quantity: Annotated[Decimal, msgspec.Meta(extra_json_schema={"pattern": POSITIVE_DECIMAL_PATTERN})]
    unit_price: Money
    amount: Money
    tax_code_id: str | None = None

    def __post_init__(self) -> None:
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise ValueError(f"quantity must be positive, got {self.quantity}")


class SalesOrderUpsert(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Create-or-update of an ERP sales order; the external id is in the path."""

    customer_id: str
    subsidiary_id: str
    currency: CurrencyCode
    tran_date: date
    lines: Annotated[list[SalesOrderLine], msgspec.Meta(min_length=1)]
    memo: str | None = None
    other_ref: str | None = None


class SalesOrder(msgspec.Struct, kw_only=True, frozen=True):
    """An ERP sales order. `booked` is true once the ERP approved it (NetSuite status B or later)."""

    id: str
    customer_id: str
    subsidiary_id: str
    currency: CurrencyCode
    tran_date: date
    status: SalesOrderStatus
    status_code: str
    booked: bool
    total: Money
    external_id: str | None = None
    tran_id: str | None = None
    memo: str | None = None
    lines: list[SalesOrderLine] = msgspec.field(default_factory=list)
    last_modified: datetime | None = None


class CommittedBooking(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One committed-bookings cell for planning: entity x period x product, keyed by a stable code."""

    booking_code: ExternalId
    legal_entity: EntityCode
    period: Period
    product_code: str
    amount: Money


class CommittedBookingsLoad(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    bookings: Annotated[list[CommittedBooking], msgspec.Meta(min_length=1, max_length=10000)]


class RejectedRow(msgspec.Struct, kw_only=True, frozen=True):
    row: int
    reason: str
    values: list[str] = msgspec.field(default_factory=list)


class PlanningImportResult(msgspec.Struct, kw_only=True, frozen=True):
    """The outcome of one planning import task, with the rows the planning platform rejected."""

    import_id: str
    task_id: str
    state: str
    successful: bool
    rows_loaded: int
    rows_rejected: int
    rejected: list[RejectedRow] = msgspec.field(default_factory=list)


PeriodStatus = Literal["open", "closed"]


class AccountingPeriod(msgspec.Struct, kw_only=True, frozen=True):
    """One ERP accounting period of one legal entity. Actuals move to planning only once closed."""

    legal_entity: EntityCode
    subsidiary_id: str
    period: Period
    status: PeriodStatus
    closed_at: datetime | None = None


class ActualsLine(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Posted actuals of one GL account (optionally one product) in a period."""

    account: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4,8}$", examples=["4000"])]
    amount: Money
    product_code: str | None = None


class ActualsBatch(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """All posted actuals of one legal entity for one closed period."""

    legal_entity: EntityCode
    period: Period
    currency: CurrencyCode
    lines: Annotated[list[ActualsLine], msgspec.Meta(max_length=100000)]


class ForecastVersion(msgspec.Struct, kw_only=True, frozen=True):
    """A planning version (e.g. Actuals, Forecast Q4, Budget 2027); published ones are read-only."""

    id: str
    name: str
    published: bool
    kind: Literal["actuals", "forecast", "budget", "committed"] = "forecast"


class CustomerMasterChanges(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Changed customer-master fields; absent fields are untouched (see contracts.ownership)."""

    name: str | None = None
    billing_country: str | None = None
    region: str | None = None
    industry: str | None = None
    email: str | None = None
    subsidiary_id: str | None = None
    currency: CurrencyCode | None = None
    terms: str | None = None
    credit_limit: Money | None = None
    tax_jurisdiction: str | None = None
    erp_customer_id: str | None = None

    def fields_set(self) -> list[str]:
        return [f for f in self.__struct_fields__ if getattr(self, f) is not None]


class CustomerMasterUpdate(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A customer-master change and the system it originated in; refused (409) when it carries a field
    its origin does not own."""

    origin: Literal["crm", "erp"]
    changes: CustomerMasterChanges
