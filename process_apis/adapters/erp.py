"""ErpPort over the ERP system API (customers and sales orders upserted by external id)."""

from __future__ import annotations

from typing import Generic, TypeVar
from urllib.parse import quote, urlencode

import msgspec

from contracts import (
    AccountingPeriod,
    ActualsBatch,
    Customer,
    CustomerMasterUpdate,
    CustomerUpsert,
    LegalEntity,
    SalesOrder,
    SalesOrderUpsert,
)
from process_apis.adapters._http import SystemApi
from process_apis.errors import ProcessError
from process_apis.ports import ReferenceCurrency, ReferenceItem, ReferenceTaxCode

__all__ = ["HttpErp", "PeriodList", "SalesOrderPage"]


class PeriodList(msgspec.Struct, kw_only=True, frozen=True):
    items: list[AccountingPeriod]


class SalesOrderPage(msgspec.Struct, kw_only=True, frozen=True):
    items: list[SalesOrder]
    next_cursor: str | None = None


T = TypeVar("T")


class _Items(msgspec.Struct, Generic[T], kw_only=True, frozen=True):
    """A reference list of the ERP system API (`{"items": [...]}`); only the fields used are decoded."""

    items: list[T]


class _Missing(ProcessError):
    """ERP answered 404 for a customer (a lookup result, not an error of the caller)."""


class HttpErp:
    def __init__(self, api: SystemApi) -> None:
        self.api = api

    async def upsert_customer(self, external_id: str, command: CustomerUpsert, *, idempotency_key: str) -> Customer:
        path = f"/v1/customers/{quote(external_id, safe='')}"
        return await self.api.call("PUT", path, Customer, body=command, idempotency_key=idempotency_key)

    async def upsert_sales_order(
        self, external_id: str, command: SalesOrderUpsert, *, idempotency_key: str
    ) -> SalesOrder:
        path = f"/v1/sales-orders/{quote(external_id, safe='')}"
        return await self.api.call("PUT", path, SalesOrder, body=command, idempotency_key=idempotency_key)

    async def get_sales_order(self, order_id: str) -> SalesOrder:
        path = f"/v1/sales-orders/{quote(order_id, safe='')}"
        return await self.api.call("GET", path, SalesOrder)

    async def close_sales_order(self, order_id: str) -> SalesOrder:
        """`POST /v1/sales-orders/{id}/close`; a refusal (booked) is DownstreamRejected with status 409."""
        path = f"/v1/sales-orders/{quote(order_id, safe='')}/close"
        return await self.api.call("POST", path, SalesOrder)

    async def get_customer(self, key: str) -> Customer | None:
        """`GET /v1/customers/{key}` (internal id or external id); None when the ERP has no such customer."""
        path = f"/v1/customers/{quote(key, safe='')}"
        try:
            return await self.api.call("GET", path, Customer, on_404=_Missing)
        except _Missing:
            return None

    async def patch_customer(self, key: str, update: CustomerMasterUpdate, *, idempotency_key: str) -> Customer:
        """`PATCH /v1/customers/{key}`; a field-ownership refusal is DownstreamRejected (status 409)."""
        path = f"/v1/customers/{quote(key, safe='')}"
        return await self.api.call("PATCH", path, Customer, body=update, idempotency_key=idempotency_key)

    async def periods(self, legal_entity: str, status: str | None = None) -> list[AccountingPeriod]:
        query = {"legal_entity": legal_entity} | ({"status": status} if status else {})
        return (await self.api.call("GET", f"/v1/accounting-periods?{urlencode(query)}", PeriodList)).items

    async def actuals(self, legal_entity: str, period: str) -> ActualsBatch:
        query = urlencode({"legal_entity": legal_entity, "period": period})
        return await self.api.call("GET", f"/v1/actuals?{query}", ActualsBatch)

    async def sales_orders(self, legal_entity: str, period: str) -> list[SalesOrder]:
        """Every sales order of an entity whose transaction date falls in `period`, all pages."""
        found: list[SalesOrder] = []
        cursor: str | None = None
        while True:
            query = {"legal_entity": legal_entity, "period": period, "limit": "200"}
            if cursor:
                query["cursor"] = cursor
            page = await self.api.call("GET", f"/v1/sales-orders?{urlencode(query)}", SalesOrderPage)
            found.extend(page.items)
            if not page.next_cursor:
                return found
            cursor = page.next_cursor

    async def subsidiaries(self) -> list[LegalEntity]:
        return (await self.api.call("GET", "/v1/reference/subsidiaries", _Items[LegalEntity])).items

    async def currencies(self) -> list[ReferenceCurrency]:
        return (await self.api.call("GET", "/v1/reference/currencies", _Items[ReferenceCurrency])).items

    async def items(self) -> list[ReferenceItem]:
        return (await self.api.call("GET", "/v1/reference/items", _Items[ReferenceItem])).items

    async def tax_codes(self) -> list[ReferenceTaxCode]:
        return (await self.api.call("GET", "/v1/reference/tax-codes", _Items[ReferenceTaxCode])).items
