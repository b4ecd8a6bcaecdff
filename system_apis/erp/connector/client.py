"""The NetSuite REST client: governed, retried calls plus the record and SuiteQL operations we use.

Every call holds one of `max_in_flight` slots (NetSuite limits concurrency per account, not
volume), re-authenticates once on 401, and on 429 waits what NetSuite's `Retry-After` says (a wait
longer than `max_retry_after` is not waited out here: the call fails as ErpThrottled carrying it,
so the caller is told when to come back) or, without one, backs off exponentially with jitter.
Writes are idempotent: `PUT .../eid:<externalId>` upserts, then the
record is read back by external id so callers get the canonical state.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from contracts import Customer, CustomerMasterChanges, CustomerUpsert, SalesOrder, SalesOrderUpsert
from servicekit import CircuitOpenError
from servicekit.client_tracing import vendor_call
from servicekit.resilience import retry_after
from system_apis.erp.connector.auth import NetSuiteTokens
from system_apis.erp.connector.mapping import (
    BOOKED_CODES,
    CRM_INITIAL_FIELDS,
    customer_from_vendor,
    customer_to_vendor,
    sales_order_from_rows,
    sales_order_from_vendor,
    sales_order_to_vendor,
)
from system_apis.erp.connector.master import master_changes_to_vendor
from system_apis.erp.connector.wire import decode_body, id_from_location, same_value, vendor_error
from system_apis.erp.errors import (
    ErpNotFound,
    ErpOrderNotClosable,
    ErpUnavailable,
    ErpUpstreamError,
)

__all__ = ["NetSuiteClient", "SuiteQLPage"]

RECORDS = "/services/rest/record/v1"
_ORDER_COLUMNS = (
    "id, tranid, externalid, entity, subsidiary, currency, status, trandate, foreigntotal, memo, lastmodifieddate"
)
SUITEQL = "/services/rest/query/v1/suiteql"
_encoder = msgspec.json.Encoder(decimal_format="number")
#: Cancelled and Closed: nothing left to close.
_CLOSED_CODES = frozenset("CH")


class SuiteQLPage(msgspec.Struct, kw_only=True, frozen=True):
    items: list[dict[str, Any]]
    has_more: bool
    offset: int
    total: int


class NetSuiteClient:
    """One per process (created in the app's lifespan); safe for concurrent use."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: NetSuiteTokens,
        *,
        max_in_flight: int = 4,
        throttle_retries: int = 5,
        backoff: float = 0.2,
        max_backoff: float = 5.0,
        max_retry_after: float = 2.0,
        page_size: int = 1000,
    ) -> None:
        self.http = http
        self.page_size = page_size
        self.tokens = tokens
        self.throttle_retries = throttle_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self._slots = asyncio.Semaphore(max_in_flight)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        record: str = "",
    ) -> httpx.Response:
        """One logical call: slots, one re-auth on 401, backoff on 429; errors raised as ErpError.

        Traced as one vendor call (`servicekit.client_tracing.vendor_call`), its retries inside it.
        """
        with vendor_call("netsuite", f"{method} {path}"):
            return await self._call(method, path, body=body, params=params, headers=headers, record=record)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        record: str,
    ) -> httpx.Response:
        content = _encoder.encode(body) if body is not None else None
        send_headers = {"Accept": "application/json", **(headers or {})}
        if content is not None:
            send_headers["Content-Type"] = "application/json"
        reauthenticated = False
        throttled = 0
        while True:
            token = await self.tokens.token()
            async with self._slots:
                try:
                    response = await self.http.request(
                        method,
                        path,
                        content=content,
                        params=params,
                        headers={**send_headers, "Authorization": f"Bearer {token}"},
                    )
                except CircuitOpenError as exc:
                    raise ErpUnavailable(
                        f"NetSuite failed repeatedly; calls are paused ({method} {path}).", retry_after=exc.retry_after
                    ) from exc
                except httpx.HTTPError as exc:
                    raise ErpUnavailable(f"NetSuite unreachable ({method} {path}): {exc}") from exc
            if response.status_code == 401 and not reauthenticated:
                reauthenticated = True
                self.tokens.invalidate(token)
                continue
            if response.status_code == 429 and throttled < self.throttle_retries:
                told = retry_after(response.headers.get("retry-after"))
                if told is None:
                    ceiling = min(self.max_backoff, self.backoff * 2**throttled)
                    told = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto
                elif told > self.max_retry_after:
                    raise vendor_error(response, record)
                throttled += 1
                await asyncio.sleep(told)
                continue
            if response.status_code >= 400:
                raise vendor_error(response, record)
            return response

    # records -------------------------------------------------------------------------------------

    async def get_record(self, record: str, ref: str, *, expand: bool = False) -> dict[str, Any]:
        params = {"expandSubResources": "true"} if expand else None
        response = await self.request("GET", f"{RECORDS}/{record}/{quote(ref, safe=':')}", params=params, record=record)
        body = decode_body(response)
        if not isinstance(body, dict):
            raise ErpUpstreamError(f"NetSuite returned a {record} that is not an object.")
        return body

    async def upsert_record(self, record: str, external_id: str, body: dict[str, Any]) -> str:
        """`PUT .../eid:<externalId>`: creates or updates the one record with that external id."""
        response = await self.request("PUT", f"{RECORDS}/{record}/eid:{quote(external_id)}", body=body, record=record)
        return id_from_location(response)

    async def create_record(self, record: str, body: dict[str, Any]) -> str:
        response = await self.request("POST", f"{RECORDS}/{record}", body=body, record=record)
        return id_from_location(response)

    async def update_record(self, record: str, record_id: str, body: dict[str, Any]) -> None:
        await self.request("PATCH", f"{RECORDS}/{record}/{record_id}", body=body, record=record)

    async def _exists(self, record: str, ref: str) -> bool:
        try:
            await self.request("GET", f"{RECORDS}/{record}/{quote(ref, safe=':')}", record=record)
        except ErpNotFound:
            return False
        return True

    async def get_customer(self, ref: str) -> Customer:
        """By internal id, or by external id as `eid:<externalId>`."""
        return customer_from_vendor(await self.get_record("customer", ref))

    async def upsert_customer(self, external_id: str, cmd: CustomerUpsert) -> tuple[Customer, bool]:
        """The customer after the upsert, and whether this call created it (one that already holds
        every value is returned as read, without a write)."""
        body = customer_to_vendor(external_id, cmd)
        try:
            stored: dict[str, Any] | None = await self.get_record("customer", f"eid:{external_id}")
        except ErpNotFound:
            stored = None
        if stored is not None:
            # The CRM-owned attributes are a new customer's initial values only: on an existing
            # customer the customer-master sync maintains them, and an upsert working from an
            # older view of the account must not write them back.
            body = {k: v for k, v in body.items() if k not in CRM_INITIAL_FIELDS}
        if stored is not None and all(same_value(stored.get(k), v) for k, v in body.items()):
            # It already holds every value the upsert would write (each quote-to-cash run of an
            # existing customer): no write, so one call instead of three, no new lastModifiedDate
            # and no erp.customer.changed event for a no-op; the answer is what the write would give.
            return customer_from_vendor(stored), False
        record_id = await self.upsert_record("customer", external_id, body)
        customer = await self.get_customer(f"eid:{external_id}")
        if customer.id != record_id:
            raise ErpUpstreamError(f"NetSuite wrote customer {record_id} but external id reads {customer.id}.")
        return customer, stored is None

    async def update_customer_master(self, ref: str, changes: CustomerMasterChanges) -> Customer:
        """PATCH the allowed customer-master `changes` onto the customer `ref`, then read it back.

        The record is read first: to resolve an external id, and because a credit limit must be in
        the customer's currency. Nothing is written when every change equals the stored value.
        """
        record = await self.get_record("customer", ref)
        current = customer_from_vendor(record)
        body = {k: v for k, v in master_changes_to_vendor(changes, current).items() if not same_value(record.get(k), v)}
        if not body:
            # Nothing differs: no write, so no new lastModifiedDate and no erp.customer.changed event
            # (a CRM ↔ ERP sync echoing a change back stops here instead of ping-ponging).
            return current
        await self.update_record("customer", current.id, body)
        return await self.get_customer(current.id)

    async def get_sales_order(self, ref: str) -> SalesOrder:
        return sales_order_from_vendor(await self.get_record("salesOrder", ref, expand=True))

    async def upsert_sales_order(self, external_id: str, cmd: SalesOrderUpsert) -> tuple[SalesOrder, bool]:
        """The order after the upsert (one per external id, however often retried), and if it is new."""
        body = sales_order_to_vendor(external_id, cmd)
        existed = await self._exists("salesOrder", f"eid:{external_id}")
        record_id = await self.upsert_record("salesOrder", external_id, body)
        order = await self.get_sales_order(f"eid:{external_id}")
        if order.id != record_id:
            raise ErpUpstreamError(f"NetSuite wrote sales order {record_id} but external id reads {order.id}.")
        return order, not existed

    async def close_sales_order(self, ref: str) -> SalesOrder:
        """Close the order by closing every line (NetSuite has no status write for it); the order as it is then.

        An order closed or cancelled already is returned as it is (closing is idempotent). A booked
        order or one further along (fulfilled, billed) raises ErpOrderNotClosable: the revenue is
        committed downstream, so order management reverses it, not an integration.
        """
        vendor = await self.get_record("salesOrder", ref, expand=True)
        order = sales_order_from_vendor(vendor)
        if order.status_code in _CLOSED_CODES:
            return order
        if order.status_code in BOOKED_CODES:
            raise ErpOrderNotClosable(
                f"Sales order {order.id} is {order.status}; a booked order is reversed by order management.",
                status=409,
            )
        sublist = vendor.get("item")
        raw_lines = sublist.get("items", []) if isinstance(sublist, dict) else []
        closing = [{"line": line["line"], "isClosed": True} for line in raw_lines if isinstance(line, dict)]
        await self.update_record("salesOrder", order.id, {"item": {"items": closing}})
        return await self.get_sales_order(order.id)

    async def set_order_status(self, order_id: str, code: str) -> None:
        """PATCH `orderStatus` (e.g. "B" approves), where the account's approval routing allows it."""
        await self.update_record("salesOrder", order_id, {"orderStatus": code})

    # SuiteQL ------------------------------------------------------------------------------------

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> SuiteQLPage:
        response = await self.request(
            "POST",
            SUITEQL,
            body={"q": query},
            params={"limit": limit, "offset": offset},
            headers={"Prefer": "transient"},
        )
        body = decode_body(response)
        try:
            return SuiteQLPage(
                items=list(body["items"]),
                has_more=bool(body["hasMore"]),
                offset=int(body.get("offset", offset)),
                total=int(body.get("totalResults", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ErpUpstreamError(f"NetSuite's SuiteQL page is unreadable: {exc}") from None

    async def query_all(self, query: str, *, page_size: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every row of `query`, page by page (default: the client's `page_size`, at most 1000).

        The query needs a unique ORDER BY for stable paging.
        """
        page_size = page_size or self.page_size
        offset = 0
        while True:
            page = await self.suiteql(query, limit=page_size, offset=offset)
            for row in page.items:
                yield row
            if not page.has_more or not page.items:
                return
            offset += len(page.items)

    async def list_sales_orders(
        self,
        *,
        status_codes: list[str] | None = None,
        subsidiary: str | None = None,
        tran_dates: tuple[date, date] | None = None,
        after_id: int | None = None,
        limit: int = 20,
    ) -> tuple[list[SalesOrder], bool]:
        """Orders by ascending id after `after_id` (keyset paging), optionally of some statuses, one
        subsidiary and a `tranDate` range (both ends inclusive).

        Two SuiteQL calls per page (headers, then their item lines), not one record GET per order.
        """
        where = ["type = 'SalesOrd'"]
        if status_codes:
            where.append("status IN (" + ", ".join(f"'{c}'" for c in status_codes if c.isalpha()) + ")")
        if subsidiary is not None:
            where.append(f"subsidiary = '{int(subsidiary)}'")
        if tran_dates is not None:
            first, last = tran_dates
            where.append(f"trandate >= TO_DATE('{first.isoformat()}', 'YYYY-MM-DD')")
            where.append(f"trandate <= TO_DATE('{last.isoformat()}', 'YYYY-MM-DD')")
        if after_id is not None:
            where.append(f"id > {int(after_id)}")
        query = f"SELECT {_ORDER_COLUMNS} FROM transaction WHERE {' AND '.join(where)} ORDER BY id"  # noqa: S608 - letters and ints only
        page = await self.suiteql(query, limit=limit)
        if not page.items:
            return [], False
        ids = ", ".join(f"'{int(row['id'])}'" for row in page.items)
        lines: dict[str, list[dict[str, Any]]] = {str(row["id"]): [] for row in page.items}
        line_query = (
            "SELECT transaction, id, item, quantity, rate, foreignamount FROM transactionline "  # noqa: S608 - ints only
            f"WHERE mainline = 'F' AND transaction IN ({ids}) ORDER BY transaction, id"
        )
        async for line in self.query_all(line_query):
            lines.setdefault(str(line["transaction"]), []).append(line)
        return [sales_order_from_rows(row, lines[str(row["id"])]) for row in page.items], page.has_more
