"""PlanningPort over the planning system API (`POST /v1/committed-bookings`, scope planning:write)."""

from __future__ import annotations

from contracts import CommittedBookingsLoad, PlanningImportResult
from process_apis.adapters._http import SystemApi

__all__ = ["HttpPlanning"]


class HttpPlanning:
    def __init__(self, api: SystemApi) -> None:
        self.api = api

    async def load_committed_bookings(
        self, load: CommittedBookingsLoad, *, idempotency_key: str
    ) -> PlanningImportResult:
        return await self.api.call(
            "POST", "/v1/committed-bookings", PlanningImportResult, body=load, idempotency_key=idempotency_key
        )
