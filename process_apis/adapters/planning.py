"""PlanningPort over the planning system API (`/v1/committed-bookings`, `/v1/actuals`, `/v1/forecast-versions`)."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec

from contracts import ActualsBatch, CommittedBookingsLoad, ForecastVersion, PlanningImportResult
from process_apis.adapters._http import SystemApi
from process_apis.ports import VersionedBookings

__all__ = ["HttpPlanning"]


class _VersionList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[ForecastVersion]


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

    async def committed_bookings(self, legal_entity: str, period: str) -> VersionedBookings:
        query = urlencode({"legal_entity": legal_entity, "period": period})
        return await self.api.call("GET", f"/v1/committed-bookings?{query}", VersionedBookings)

    async def forecast_versions(self) -> list[ForecastVersion]:
        return (await self.api.call("GET", "/v1/forecast-versions", _VersionList)).items
