"""CrmPort over the CRM system API (`GET /v1/opportunities/{id}`, scope crm:read)."""

from __future__ import annotations

from urllib.parse import quote

from contracts import Opportunity
from process_apis.adapters._http import SystemApi
from process_apis.errors import OpportunityNotFound

__all__ = ["HttpCrm"]


class HttpCrm:
    def __init__(self, api: SystemApi) -> None:
        self.api = api

    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        def not_found(detail: str) -> OpportunityNotFound:
            return OpportunityNotFound(f"CRM has no opportunity {opportunity_id!r}: {detail}")

        path = f"/v1/opportunities/{quote(opportunity_id, safe='')}"
        return await self.api.call("GET", path, Opportunity, on_404=not_found)
