"""In-memory fakes of the process API's ports, and builders of canonical test records."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec

from contracts import (
    Account,
    CommittedBookingsLoad,
    Customer,
    CustomerUpsert,
    Money,
    Opportunity,
    OpportunityLine,
    PlanningImportResult,
    SalesOrder,
    SalesOrderUpsert,
)
from process_apis.errors import DownstreamRejected, OpportunityNotFound

DEMO1 = "0068d00000DEMO1AAA"
DEMO2 = "0068d00000DEMO2AAA"


def opportunity(
    opportunity_id: str = DEMO2,
    *,
    region: str | None = "UKI",
    currency: str = "GBP",
    lines: tuple[tuple[str, str, str], ...] = (("FIG-SUPP", "2", "1500.00"),),
    amount: str | None = None,
    is_won: bool = True,
    approval: str = "approved",
    stage: str = "Closed Won",
    account_id: str = "0018d00000DEMOBAAA",
    account_name: str = "Thames Data Ltd",
    close_date: date = date(2026, 11, 20),
) -> Opportunity:
    """An opportunity (default: the approved Thames Data demo); lines are (product, qty, unit price)."""
    built = [
        OpportunityLine(
            product_code=code,
            quantity=Decimal(qty),
            unit_price=Money(amount=Decimal(price), currency=currency),
            total=Money(amount=Decimal(qty) * Decimal(price), currency=currency),
        )
        for code, qty, price in lines
    ]
    total = Decimal(amount) if amount is not None else sum((line.total.amount for line in built), Decimal("0"))
    return Opportunity(
        id=opportunity_id,
        name=f"{account_name} - deal",
        account_id=account_id,
        account_name=account_name,
        stage=stage,
        is_closed=is_won,
        is_won=is_won,
        approval_status=approval,  # type: ignore[arg-type]  # tests pass the literal values
        amount=Money(amount=total, currency=currency),
        close_date=close_date,
        last_modified=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        region=region,
        lines=built,
    )


def rheinwerk(**overrides: Any) -> Opportunity:
    """The DACH demo deal, two lines (FIG-PLAT 10 x 1200, FIG-SUPP 1 x 2400), pending approval."""
    values: dict[str, Any] = {
        "region": "DACH",
        "currency": "EUR",
        "lines": (("FIG-PLAT", "10", "1200.00"), ("FIG-SUPP", "1", "2400.00")),
        "is_won": False,
        "approval": "pending",
        "stage": "Negotiation/Review",
        "account_id": "0018d00000DEMOAAAA",
        "account_name": "Rheinwerk Analytics GmbH",
        "close_date": date(2026, 11, 30),
    }
    values.update(overrides)
    return opportunity(DEMO1, **values)


class FakeCrm:
    def __init__(self, *opportunities: Opportunity) -> None:
        self.opportunities = {o.id: o for o in opportunities}
        self.accounts = {
            o.account_id: Account(
                id=o.account_id, name=o.account_name or "", last_modified=o.last_modified, tax_jurisdiction="GB"
            )
            for o in opportunities
        }
        self.calls: list[str] = []
        self.account_reads = 0

    async def get_account(self, account_id: str) -> Account | None:
        self.account_reads += 1
        return self.accounts.get(account_id)

    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        self.calls.append(opportunity_id)
        if opportunity_id not in self.opportunities:
            raise OpportunityNotFound(f"no opportunity {opportunity_id}")
        return self.opportunities[opportunity_id]


class FakeErp:
    """Upserts by external id; `fail[op]` is a list of errors raised by the next calls of `op`."""

    def __init__(self, *, book_on_create: bool = False, delay: float = 0.0) -> None:
        self.book_on_create = book_on_create
        self.delay = delay
        self.customers: dict[str, Customer] = {}
        self.orders: dict[str, SalesOrder] = {}
        self.calls: list[tuple[str, str, str]] = []
        self.fail: dict[str, list[Exception]] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def _enter(self, op: str, target: str, key: str) -> None:
        self.calls.append((op, target, key))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            errors = self.fail.get(op)
            if errors:
                raise errors.pop(0)
        finally:
            self.in_flight -= 1

    async def upsert_customer(self, external_id: str, command: CustomerUpsert, *, idempotency_key: str) -> Customer:
        await self._enter("upsert_customer", external_id, idempotency_key)
        customer = Customer(
            id=str(100 + len(self.customers)),
            name=command.name,
            subsidiary_id=command.subsidiary_id,
            currency=command.currency,
            external_id=external_id,
        )
        self.customers.setdefault(external_id, customer)
        return self.customers[external_id]

    async def upsert_sales_order(
        self, external_id: str, command: SalesOrderUpsert, *, idempotency_key: str
    ) -> SalesOrder:
        await self._enter("upsert_sales_order", external_id, idempotency_key)
        existing = self.orders.get(external_id)
        total = sum((line.amount.amount for line in command.lines), Decimal("0"))
        order = SalesOrder(
            id=existing.id if existing else str(7000 + len(self.orders)),
            customer_id=command.customer_id,
            subsidiary_id=command.subsidiary_id,
            currency=command.currency,
            tran_date=command.tran_date,
            status="pending_fulfillment" if self.book_on_create else "pending_approval",
            status_code="B" if self.book_on_create else "A",
            booked=self.book_on_create,
            total=Money(amount=total, currency=command.currency),
            external_id=external_id,
            lines=list(command.lines),
        )
        self.orders[external_id] = order
        return order

    def book(self, external_id: str) -> SalesOrder:
        order = self.orders[external_id]
        self.orders[external_id] = msgspec.structs.replace(
            order, status="pending_fulfillment", status_code="B", booked=True
        )
        return self.orders[external_id]

    async def close_sales_order(self, order_id: str) -> SalesOrder:
        """Like the ERP system API: a booked order is refused (409), any other is closed."""
        await self._enter("close_sales_order", order_id, "")
        for key, order in self.orders.items():
            if order.id == order_id:
                if order.booked:
                    raise DownstreamRejected(
                        f"erp answered 409: sales order {order_id} is {order.status}",
                        service="erp",
                        downstream_status=409,
                    )
                self.orders[key] = msgspec.structs.replace(order, status="closed", status_code="H")
                return self.orders[key]
        raise DownstreamRejected(f"erp answered 404: no sales order {order_id}", service="erp", downstream_status=404)

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        await self._enter("get_sales_order", order_id, "")
        for order in self.orders.values():
            if order.id == order_id:
                return order
        raise AssertionError(f"no order {order_id}")


class FakePlanning:
    def __init__(self, *, reject: bool = False) -> None:
        self.loads: list[tuple[CommittedBookingsLoad, str]] = []
        self.reject = reject
        self.fail: list[Exception] = []

    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        self.loads.append((load, idempotency_key))
        if self.fail:
            raise self.fail.pop(0)
        rejected = len(load.bookings) if self.reject else 0
        return PlanningImportResult(
            import_id="112000000001",
            task_id=f"task-{len(self.loads)}",
            state="COMPLETE",
            successful=not self.reject,
            rows_loaded=len(load.bookings) - rejected,
            rows_rejected=rejected,
        )
