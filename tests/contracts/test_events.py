"""Every event type the code emits is CloudEvents 1.0, as the official CloudEvents SDK reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from cloudevents.v1.http import from_json

from contracts import (
    ACCOUNT_CHANGED,
    BOOKING_COMMITTED,
    CUSTOMER_CHANGED,
    OPPORTUNITY_AMENDED,
    OPPORTUNITY_APPROVED,
    PERIOD_CLOSED,
    SALES_ORDER_BOOKED,
    CloudEvent,
    event_source,
)
from process_apis.controls import load_mapping_set
from process_apis.schemas import QuoteToCashRun
from process_apis.workflows import commands
from servicekit.streams import encode_event
from system_apis.crm.connector.reader import ChangedAccount, ChangedOpportunity, Keyset
from system_apis.crm.feed import account_event, amended_event, approved_event
from system_apis.erp.feed import CustomerFeed, PeriodFeed, SalesOrderFeed
from tests.process_apis.fake_systems import account_for
from tests.process_apis.fakes import opportunity

_STAMP = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
_MODIFIED = "2026-11-20T09:00:00.000Z"


def _erp_event(feed: type[SalesOrderFeed | PeriodFeed | CustomerFeed], row: dict[str, Any]) -> CloudEvent:
    # `event` reads only the row; a feed object needs a client and Redis, which the mapping never touches.
    return feed.event(msgspec.NODEFAULT, row)  # type: ignore[arg-type]  # the instance is unused


def every_event() -> list[CloudEvent]:
    """One event of every type any producer in the code base builds, built by the producer itself."""
    deal = opportunity()
    account = account_for(deal)
    run = QuoteToCashRun(
        id=f"q2c-{deal.id}",
        opportunity_id=deal.id,
        state="order_booked",
        status="running",
        mapping_version="default-v1",
        created_at=_STAMP,
        updated_at=_STAMP,
        legal_entity="UK01",
        erp_order_id="5001",
    )
    load = commands.committed_bookings(deal, "UK01", "5001")
    booking = commands.booking_committed(run, deal, load, load_mapping_set(), traceparent=None).event
    work = commands.work_item(run).event
    assert booking is not None
    assert work is not None
    order = {"id": 5001, "externalid": f"SF-{deal.id}", "subsidiary": "3", "currency": "2", "status": "B",
             "foreigntotal": "3000.00", "lastmodifieddate": _MODIFIED}  # fmt: skip
    period = {"id": 211, "periodname": "2026-11", "startdate": "2026-11-01", "enddate": "2026-11-30",
              "closed": "T", "subsidiary": "2", "lastmodifieddate": _MODIFIED}  # fmt: skip
    customer = {"id": 1002, "externalid": "SF-0018d00000DEMOBAAA", "companyname": "Thames Data Ltd",
                "subsidiary": "3", "currency": "2", "terms": "2", "creditlimit": "5000.00",
                "lastmodifieddate": _MODIFIED}  # fmt: skip
    amended = amended_event(ChangedOpportunity(deal, Keyset(_STAMP, deal.id), account), {"amount": "1.00"})
    assert amended is not None
    return [
        approved_event(ChangedOpportunity(deal, Keyset(_STAMP, deal.id), account)),
        amended,
        account_event(ChangedAccount(account, Keyset(_STAMP, account.id))),
        _erp_event(SalesOrderFeed, order),
        _erp_event(PeriodFeed, period),
        _erp_event(CustomerFeed, customer),
        booking,
        work,
    ]


def test_every_event_type_is_read_by_the_cloudevents_sdk_with_its_attributes() -> None:
    events = every_event()
    assert {e.type for e in events} >= {
        OPPORTUNITY_APPROVED,
        OPPORTUNITY_AMENDED,
        ACCOUNT_CHANGED,
        SALES_ORDER_BOOKED,
        PERIOD_CLOSED,
        CUSTOMER_CHANGED,
        BOOKING_COMMITTED,
        commands.WORK_REQUESTED,
    }
    for event in events:
        read = from_json(encode_event(event))
        assert read["specversion"] == "1.0", event.type
        assert read["datacontenttype"] == "application/json", event.type
        assert (read["id"], read["type"], read["source"]) == (event.id, event.type, event.source)
        assert read.data == msgspec.to_builtins(event.data)
        for extension in ("correlationid", "legalentity", "subject"):
            assert read.get(extension) == getattr(event, extension), (event.type, extension)


def test_every_producer_names_itself_with_one_uri_reference_scheme() -> None:
    sources = {e.type: e.source for e in every_event()}
    assert sources[OPPORTUNITY_APPROVED] == sources[ACCOUNT_CHANGED] == "/system-apis/crm"
    assert sources[OPPORTUNITY_AMENDED] == "/system-apis/crm"
    assert sources[SALES_ORDER_BOOKED] == sources[PERIOD_CLOSED] == sources[CUSTOMER_CHANGED] == "/system-apis/erp"
    assert sources[BOOKING_COMMITTED] == "/process-apis/quote-to-cash"
    assert event_source("system-apis", "planning") == "/system-apis/planning"
    with pytest.raises(ValueError, match="one non-empty path segment"):
        event_source("system-apis", "erp/netsuite")


def test_an_envelope_written_before_specversion_was_written_still_decodes_as_1_0() -> None:
    legacy = (
        b'{"id":"erp-so-booked-7","source":"/system-apis/erp/netsuite","type":"erp.sales_order.booked.v1",'
        b'"time":"2026-11-20T09:00:00Z","subject":"7","data":{"sales_order_id":"7"}}'
    )
    event = msgspec.json.decode(legacy, type=CloudEvent)
    assert (event.specversion, event.datacontenttype, event.subject) == ("1.0", "application/json", "7")
    assert from_json(encode_event(event))["specversion"] == "1.0"
