"""PlanningPort over the planning system API (`POST /v1/committed-bookings`, scope planning:write)."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec

from contracts import ActualsBatch, CommittedBooking, CommittedBookingsLoad, PlanningImportResult
from process_apis.adapters._http import SystemApi

__all__ = ["CommittedBookingList", "HttpPlanning"]


class CommittedBookingList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[CommittedBooking]


class HttpPlanning:
    def __init__(self, api: SystemApi) -> None:
        self.api = api

    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        return await self.api.call(
            "POST", "/v1/committed-bookings", PlanningImportResult, body=load, idempotency_key=idempotency_key
        )

    async def load_actuals(self, batch: ActualsBatch, *, idempotency_key: str) -> PlanningImportResult:
        return await self.api.call(
            "POST", "/v1/actuals", PlanningImportResult, body=batch, idempotency_key=idempotency_key
        )

    async def committed_bookings(self, legal_entity: str, period: str) -> list[CommittedBooking]:
        query = urlencode({"legal_entity": legal_entity, "period": period})
        return (await self.api.call("GET", f"/v1/committed-bookings?{query}", CommittedBookingList)).items
