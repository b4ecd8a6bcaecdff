"""The CloudEvents 1.0 envelope and the canonical finance event types.

Every envelope written is valid CloudEvents 1.0 (structured JSON mode): the required attributes
`id`, `source`, `specversion` and `type` are always present, and `source` is a URI-reference
built by `event_source`, one scheme for every producer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

__all__ = [
    "ACCOUNT_CHANGED",
    "AMENDABLE_FIELDS",
    "BOOKING_COMMITTED",
    "CUSTOMER_CHANGED",
    "DATA_CONTENT_TYPE",
    "OPPORTUNITY_AMENDED",
    "OPPORTUNITY_APPROVED",
    "PERIOD_CLOSED",
    "SALES_ORDER_BOOKED",
    "SPEC_VERSION",
    "CloudEvent",
    "event_source",
    "new_event",
]

OPPORTUNITY_APPROVED: Final = "crm.opportunity.approved.v1"
#: An opportunity already published as approved changed one of `AMENDABLE_FIELDS`. Data: the
#: canonical Opportunity as it is now (plus `account` when read with it), `changed` (the names of
#: the fields that changed, in `AMENDABLE_FIELDS` order) and `previous` (their values as last
#: published). `is_won` false or `approval_status` other than approved: the deal left closed-won.
OPPORTUNITY_AMENDED: Final = "crm.opportunity.amended.v1"
ACCOUNT_CHANGED: Final = "crm.account.changed.v1"
SALES_ORDER_BOOKED: Final = "erp.sales_order.booked.v1"
PERIOD_CLOSED: Final = "erp.period.closed.v1"
CUSTOMER_CHANGED: Final = "erp.customer.changed.v1"
BOOKING_COMMITTED: Final = "finance.booking.committed.v1"

#: The Opportunity fields whose change after approval is an amendment (canonical names).
AMENDABLE_FIELDS: Final = ("amount", "currency", "lines", "close_date", "account_id", "stage", "approval_status")

SPEC_VERSION: Final = "1.0"
DATA_CONTENT_TYPE: Final = "application/json"


def _spec_version() -> str:
    return SPEC_VERSION


def _data_content_type() -> str:
    return DATA_CONTENT_TYPE


def event_source(layer: str, service: str) -> str:
    """The `source` of the events one service produces: the URI-reference `/<layer>/<service>`.

    E.g. `event_source("system-apis", "crm")` is `/system-apis/crm`. One helper, so every producer
    names itself the same way and a consumer can route or filter on `source` alone.
    """
    for part in (layer, service):
        if not part or "/" in part or part != part.strip():
            raise ValueError(f"event source segment {part!r} must be one non-empty path segment")
    return f"/{layer}/{service}"


class CloudEvent(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """CloudEvents 1.0 JSON with the `correlationid`, `legalentity` and `traceparent` extensions.

    `specversion` and `datacontenttype` are always written: CloudEvents requires the first, and the
    second tells a consumer that `data` is JSON. Both are declared with a default *factory*, not a
    default value, because `omit_defaults` leaves out a field equal to its default value but never
    one whose default comes from a factory (other than an empty collection); the factory is there
    only so that envelopes written before these attributes were (still in streams and outboxes)
    decode as 1.0 JSON events. Optional attributes (`None`) are left out, as the format asks.
    """

    id: str
    source: str
    type: str
    time: datetime
    specversion: str = msgspec.field(default_factory=_spec_version)
    subject: str | None = None
    datacontenttype: str = msgspec.field(default_factory=_data_content_type)
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
