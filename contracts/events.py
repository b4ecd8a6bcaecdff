"""The CloudEvents 1.0 envelope and the canonical finance event types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

__all__ = [
    "ACCOUNT_CHANGED",
    "BOOKING_COMMITTED",
    "CUSTOMER_CHANGED",
    "OPPORTUNITY_APPROVED",
    "PERIOD_CLOSED",
    "SALES_ORDER_BOOKED",
    "CloudEvent",
    "new_event",
]

OPPORTUNITY_APPROVED: Final = "crm.opportunity.approved.v1"
ACCOUNT_CHANGED: Final = "crm.account.changed.v1"
SALES_ORDER_BOOKED: Final = "erp.sales_order.booked.v1"
PERIOD_CLOSED: Final = "erp.period.closed.v1"
CUSTOMER_CHANGED: Final = "erp.customer.changed.v1"
BOOKING_COMMITTED: Final = "finance.booking.committed.v1"


class CloudEvent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """CloudEvents 1.0 JSON with the `correlationid` and `legalentity` extensions."""

    id: str
    source: str
    type: str
    time: datetime
    specversion: str = "1.0"
    subject: str | None = None
    datacontenttype: str = "application/json"
    correlationid: str | None = None
    legalentity: str | None = None
    traceparent: str | None = None
    #: CloudEvents distributed-tracing extension, with `traceparent`: the W3C `tracestate`.
    tracestate: str | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


def new_event(
    *,
    source: str,
    type: str,  # noqa: A002 - the CloudEvents attribute is called `type`
    data: dict[str, Any],
    subject: str | None = None,
    correlation_id: str | None = None,
    legal_entity: str | None = None,
    traceparent: str | None = None,
    tracestate: str | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """Build an event; pass `event_id` to make it deterministic (dedupe by id downstream)."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=type,
        time=datetime.now(UTC),
        subject=subject,
        correlationid=correlation_id,
        legalentity=legal_entity,
        traceparent=traceparent,
        tracestate=tracestate,
        data=data,
    )
