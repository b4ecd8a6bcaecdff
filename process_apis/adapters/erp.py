"""ErpPort over the ERP system API (customers and sales orders upserted by external id)."""

from __future__ import annotations

from urllib.parse import quote

from contracts import Customer, CustomerUpsert, SalesOrder, SalesOrderUpsert
from process_apis.adapters._http import SystemApi

__all__ = ["HttpErp"]


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
