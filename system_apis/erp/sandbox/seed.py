"""The deterministic starting state of the emulated account (the same on every run).

Subsidiaries, currencies and items follow the cross-service facts in the project brief; about 30
customers and a dozen sales orders in every status give the change feed and lists something to
show; accounting periods 2026-01..2026-12 exist per subsidiary with the months before 2026-11
closed; tax codes per subsidiary (US sales tax, DE VAT 19/7 %, GB VAT 20/0 %) and posted GL lines for
2026-01..2026-10 plus month-to-date 2026-11 (revenue 4000/4100/4200 by item, expense 5000/6000/6100). `scale` multiplies
customers and orders for benchmarks.
"""

from __future__ import annotations

import calendar
from copy import deepcopy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from system_apis.erp.devkey import dev_public_key_pem
from system_apis.erp.sandbox.seed_ledger import postings, tax_codes
from system_apis.erp.sandbox.store import (
    AccountingPeriod,
    AccountState,
    Certificate,
    Currency,
    CustomerRecord,
    Item,
    OrderLine,
    SalesOrderRecord,
    Subsidiary,
)

__all__ = ["SUBSIDIARIES", "seed_state"]

SEED_TIME = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OPEN_FROM_MONTH = 11

SUBSIDIARIES = [
    Subsidiary(id="1", name="FIG Inc. (US01)", country="US", currency_id="1", legal_entity="US01"),
    Subsidiary(id="2", name="FIG GmbH (DE01)", country="DE", currency_id="4", legal_entity="DE01"),
    Subsidiary(id="3", name="FIG Ltd (GB01)", country="GB", currency_id="2", legal_entity="GB01"),
]
_CURRENCIES = [
    Currency(id="1", symbol="USD", name="US Dollar"),
    Currency(id="2", symbol="GBP", name="British pound"),
    Currency(id="4", symbol="EUR", name="Euro"),
]
_ITEMS = [
    Item(
        id="101",
        item_id="FIG-PLAT",
        display_name="FIG Platform subscription",
        revenue_category="subscription",
        base_price=Decimal("1200.00"),
    ),
    Item(
        id="102",
        item_id="FIG-SUPP",
        display_name="FIG Premium support",
        revenue_category="support",
        base_price=Decimal("2400.00"),
    ),
    Item(
        id="103",
        item_id="FIG-SERV",
        display_name="FIG Professional services",
        revenue_category="services",
        base_price=Decimal("150.00"),
    ),
]
_NAMES = [
    "Acme Analytics",
    "Borealis Foods",
    "Cobalt Logistics",
    "Delta Harbour",
    "Elbe Maschinenbau",
    "Fjord Energy",
    "Granite Insurance",
    "Hanse Retail",
    "Ionic Health",
    "Juniper Media",
]
_SUFFIX = {"1": "Inc.", "2": "GmbH", "3": "Ltd"}
# Seeded orders cycle through every status so lists and feeds have each kind.
_STATUSES = "ABBDEFGHCABF"


def _periods() -> dict[str, AccountingPeriod]:
    periods: dict[str, AccountingPeriod] = {}
    for sub in SUBSIDIARIES:
        for month in range(1, 13):
            last_day = calendar.monthrange(2026, month)[1]
            closed = month < OPEN_FROM_MONTH
            modified = datetime(2026, month + 1, 3, 12, tzinfo=UTC) if closed else SEED_TIME
            closed_on = modified if closed else None
            period = AccountingPeriod(
                id=f"{sub.id}{month:02d}",
                subsidiary_id=sub.id,
                name=f"2026-{month:02d}",
                start_date=date(2026, month, 1),
                end_date=date(2026, month, last_day),
                closed=closed,
                last_modified=modified,
                closed_on=closed_on,
            )
            periods[period.id] = period
    return periods


def _customers(state: AccountState, count: int) -> list[CustomerRecord]:
    made = []
    for n in range(count):
        sub = SUBSIDIARIES[n % 3]
        state.next_customer_id += 1
        created = SEED_TIME - timedelta(days=60 - n % 60, minutes=n)
        customer = CustomerRecord(
            id=str(state.next_customer_id),
            company_name=f"{_NAMES[n % len(_NAMES)]} {_SUFFIX[sub.id]} #{n + 1:03d}",
            subsidiary_id=sub.id,
            currency_id=sub.currency_id,
            date_created=created,
            last_modified=created,
            external_id=f"SF-0018d00000ERP{n + 1:03d}" if n % 5 else None,
            email=f"ap{n + 1:03d}@example.com",
            terms="Net 30",
            credit_limit=Decimal(50000 + 1000 * (n % 7)),
        )
        state.customers[customer.id] = customer
        made.append(customer)
    return made


def _orders(state: AccountState, customers: list[CustomerRecord], count: int) -> None:
    for n in range(count):
        customer = customers[n % len(customers)]
        state.next_sales_order_id += 1
        state.next_tran_number += 1
        item = _ITEMS[n % 3]
        quantity = Decimal(1 + n % 4)
        created = SEED_TIME - timedelta(days=20 - n % 20, hours=n % 24)
        order = SalesOrderRecord(
            id=str(state.next_sales_order_id),
            tran_id=f"SO{state.next_tran_number}",
            entity_id=customer.id,
            subsidiary_id=customer.subsidiary_id,
            currency_id=customer.currency_id,
            tran_date=created.date(),
            order_status=_STATUSES[n % len(_STATUSES)],
            lines=[
                OrderLine(
                    line=1, item_id=item.id, quantity=quantity, rate=item.base_price, amount=quantity * item.base_price
                )
            ],
            date_created=created,
            last_modified=created + timedelta(hours=1),
            external_id=f"SF-0068d00000ERP{n + 1:03d}",
            memo="seeded order",
        )
        state.sales_orders[order.id] = order


def seed_state(*, client_id: str, key_id: str, scale: int = 1) -> AccountState:
    """A fresh account: reference data, customers, orders, periods and the dev M2M certificate."""
    # Deep copies: a reset must never share mutable records with the module-level templates.
    state = AccountState(
        subsidiaries={s.id: deepcopy(s) for s in SUBSIDIARIES},
        currencies={c.id: deepcopy(c) for c in _CURRENCIES},
        items={i.id: deepcopy(i) for i in _ITEMS},
        periods=_periods(),
        tax_codes=tax_codes(),
        postings=postings(),
        certificates={
            key_id: Certificate(kid=key_id, client_id=client_id, public_key_pem=dev_public_key_pem().decode())
        },
    )
    customers = _customers(state, 30 * max(scale, 1))
    _orders(state, customers, 12 * max(scale, 1))
    return state
