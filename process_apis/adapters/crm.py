"""CrmPort over the CRM system API (`GET /v1/opportunities/{id}`, scope crm:read)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import msgspec

from contracts import Account, CustomerMasterUpdate, Opportunity
from process_apis.adapters._http import SystemApi
from process_apis.errors import OpportunityNotFound, ProcessError

__all__ = ["HttpCrm", "OpportunityPage"]


class OpportunityPage(msgspec.Struct, kw_only=True, frozen=True):
    items: list[Opportunity]
    next_cursor: str | None = None


class _Missing(ProcessError):
    """CRM answered 404 for an account (a lookup result, not an error of the caller)."""


class HttpCrm:
    def __init__(self, api: SystemApi) -> None:
        self.api = api

    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        def not_found(detail: str) -> OpportunityNotFound:
            return OpportunityNotFound(f"CRM has no opportunity {opportunity_id!r}: {detail}")

        path = f"/v1/opportunities/{quote(opportunity_id, safe='')}"
        return await self.api.call("GET", path, Opportunity, on_404=not_found)

    async def get_account(self, account_id: str) -> Account | None:
        path = f"/v1/accounts/{quote(account_id, safe='')}"
        try:
            return await self.api.call("GET", path, Account, on_404=_Missing)
        except _Missing:
            return None

    async def patch_account(self, account_id: str, update: CustomerMasterUpdate, *, idempotency_key: str) -> Account:
        """`PATCH /v1/accounts/{id}`; a field-ownership refusal is DownstreamRejected (status 409)."""
        path = f"/v1/accounts/{quote(account_id, safe='')}"
        return await self.api.call("PATCH", path, Account, body=update, idempotency_key=idempotency_key)

    async def won_opportunities(self, period: str, region: str) -> list[Opportunity]:
        """Every closed-won opportunity of a region closing in `period` (YYYY-MM), all pages."""
        found: list[Opportunity] = []
        cursor: str | None = None
        while True:
            query = {"won": "true", "close_period": period, "region": region, "limit": "200"}
            if cursor:
                query["cursor"] = cursor
            page = await self.api.call("GET", f"/v1/opportunities?{urlencode(query)}", OpportunityPage)
            found.extend(page.items)
            if not page.next_cursor:
                return found
            cursor = page.next_cursor
