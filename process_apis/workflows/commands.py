"""Pure builders: what each quote-to-cash step sends downstream and which events it emits."""

from __future__ import annotations

from datetime import date
from typing import Final

import msgspec

from contracts import (
    BOOKING_COMMITTED,
    CloudEvent,
    CommittedBooking,
    CommittedBookingsLoad,
    CustomerMasterChanges,
    CustomerUpsert,
    Opportunity,
    SalesOrderLine,
    SalesOrderUpsert,
    event_source,
    new_event,
)
from contracts.streams import FINANCE_EVENTS
from process_apis.controls import EntityMapping, MappingSet
from process_apis.errors import ValidationFailed
from process_apis.schemas import QuoteToCashRun
from process_apis.workflows.store import WORK_STREAM, Effect

__all__ = [
    "EVENT_SOURCE",
    "WORK_REQUESTED",
    "booking_committed",
    "committed_bookings",
    "customer_external_id",
    "customer_upsert",
    "order_external_id",
    "sales_order_upsert",
    "step_key",
    "work_item",
]

EVENT_SOURCE: Final = event_source("process-apis", "quote-to-cash")
#: Internal work-queue item type: "advance this run as far as it goes".
WORK_REQUESTED: Final = "fig.q2c.run.requested.v1"
FINANCE_STREAM: Final = FINANCE_EVENTS


def step_key(opportunity_id: str, step: str) -> str:
    """The deterministic idempotency key of one step of one opportunity's run."""
    return f"q2c:{opportunity_id}:{step}"


def customer_external_id(opportunity: Opportunity) -> str:
    return f"SF-{opportunity.account_id}"


def order_external_id(opportunity: Opportunity) -> str:
    return f"SF-{opportunity.id}"


def customer_upsert(
    opportunity: Opportunity, entity: EntityMapping, crm_fields: CustomerMasterChanges | None = None
) -> CustomerUpsert:
    """The customer of the deal's account; `crm_fields` (the account's CRM-owned fields, when known)
    are written with it, so a new customer holds them without a customer-master sync write."""
    crm = crm_fields or CustomerMasterChanges()
    return CustomerUpsert(
        name=crm.name or opportunity.account_name or f"Salesforce account {opportunity.account_id}",
        subsidiary_id=entity.subsidiary_id,
        currency=opportunity.amount.currency,
        region=crm.region,
        industry=crm.industry,
        billing_country=crm.billing_country,
    )


def sales_order_upsert(
    opportunity: Opportunity,
    entity: EntityMapping,
    mapping: MappingSet,
    customer_id: str,
    *,
    posting_period: str | None = None,
    tax_code_ids: list[str] | None = None,
) -> SalesOrderUpsert:
    """The ERP order of a deal, dated its close date, or the first day of `posting_period` when the
    deal is posted into another (open) period than its own; line n carries `tax_code_ids[n]`."""
    lines = []
    for n, line in enumerate(opportunity.lines):
        product = mapping.product(line.product_code)
        if product is None:  # validated earlier; only a mapping change between gates gets here
            raise ValidationFailed(f"product {line.product_code!r} is no longer mapped in {mapping.version}")
        lines.append(
            SalesOrderLine(
                item_id=product.item_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.total,
                tax_code_id=tax_code_ids[n] if tax_code_ids is not None and n < len(tax_code_ids) else None,
            )
        )
    return SalesOrderUpsert(
        customer_id=customer_id,
        subsidiary_id=entity.subsidiary_id,
        currency=opportunity.amount.currency,
        tran_date=date.fromisoformat(f"{posting_period}-01") if posting_period else opportunity.close_date,
        lines=lines,
        memo=opportunity.name[:200],
        other_ref=opportunity.id,
    )


def committed_bookings(
    opportunity: Opportunity, legal_entity: str, erp_order_id: str, *, posting_period: str | None = None
) -> CommittedBookingsLoad:
    """One cell per opportunity line: `SO<order id>-<line no>` for entity x period x product.

    The period is the one the ERP order was posted into: the close date's, or `posting_period`."""
    period = posting_period or opportunity.close_date.strftime("%Y-%m")
    return CommittedBookingsLoad(
        bookings=[
            CommittedBooking(
                booking_code=f"SO{erp_order_id}-{number}",
                legal_entity=legal_entity,
                period=period,
                product_code=line.product_code,
                amount=line.total,
            )
            for number, line in enumerate(opportunity.lines, start=1)
        ]
    )


def booking_committed(
    run: QuoteToCashRun,
    opportunity: Opportunity,
    load: CommittedBookingsLoad,
    mapping: MappingSet,
    *,
    traceparent: str | None,
) -> Effect:
    """`finance.booking.committed.v1` on `fig:events:finance`, id deterministic per opportunity."""
    bookings = []
    for booking in load.bookings:
        product = mapping.product(booking.product_code)
        item = msgspec.to_builtins(booking)
        item["revenue_category"] = product.revenue_category if product else None
        bookings.append(item)
    event = new_event(
        source=EVENT_SOURCE,
        type=BOOKING_COMMITTED,
        subject=run.id,
        correlation_id=run.correlation_id,
        legal_entity=run.legal_entity,
        traceparent=traceparent,
        event_id=step_key(opportunity.id, "booking-committed"),
        data={
            "run_id": run.id,
            "opportunity_id": opportunity.id,
            "account_id": opportunity.account_id,
            "legal_entity": run.legal_entity,
            "period": load.bookings[0].period,
            "erp_customer_id": run.erp_customer_id,
            "erp_order_id": run.erp_order_id,
            "erp_order_external_id": run.erp_order_external_id,
            "amount": msgspec.to_builtins(opportunity.amount),
            "bookings": bookings,
            "mapping_version": run.mapping_version,
            "planning_import_id": run.planning.import_id if run.planning else None,
        },
    )
    return Effect(kind="xadd", key=FINANCE_STREAM, event=event)


def work_item(run: QuoteToCashRun, *, traceparent: str | None = None) -> Effect:
    """Ask any worker to advance the run."""
    event: CloudEvent = new_event(
        source=EVENT_SOURCE,
        type=WORK_REQUESTED,
        subject=run.id,
        correlation_id=run.correlation_id,
        traceparent=traceparent,
        data={"run_id": run.id},
    )
    return Effect(kind="xadd", key=WORK_STREAM, event=event)
