"""What the workflows need from the outside world, one small Protocol per capability.

The httpx adapters in `process_apis.adapters` implement them against the system APIs; tests pass
fakes. Every method raises only `process_apis.errors` types.
"""

from __future__ import annotations

from typing import Protocol

from contracts import (
    CommittedBookingsLoad,
    Customer,
    CustomerUpsert,
    Opportunity,
    PlanningImportResult,
    SalesOrder,
    SalesOrderUpsert,
)

__all__ = ["CrmPort", "ErpPort", "PlanningPort"]


class CrmPort(Protocol):
    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        """The opportunity with its lines; raises OpportunityNotFound."""
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


class PlanningPort(Protocol):
    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        """Load committed-bookings cells; the result says which rows the planning platform rejected."""
        ...
