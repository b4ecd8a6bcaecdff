"""Vendor JSON for records: references as `{id, refName, links}`, money as JSON numbers."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection

from system_apis.erp.sandbox.segments import segment_ref
from system_apis.erp.sandbox.store import (
    TERM_IDS,
    AccountingPeriod,
    Currency,
    CustomerRecord,
    Item,
    OrderLine,
    SalesOrderRecord,
    Store,
    Subsidiary,
    TaxCode,
    format_time,
)

__all__ = [
    "RESOURCE_MEDIA_TYPE",
    "collection",
    "currency_json",
    "custom_fields",
    "customer_json",
    "item_json",
    "json_response",
    "period_json",
    "public_origin",
    "rest_base",
    "sales_order_json",
    "sales_order_lines_json",
    "subsidiary_json",
    "tax_code_json",
]

RESOURCE_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION_MEDIA_TYPE = "application/vnd.oracle.resource+json; type=collection"
# NetSuite writes amounts and quantities as JSON numbers; Decimal keeps them exact on our side.
_encoder = msgspec.json.Encoder(decimal_format="number")

ORDER_STATUS_NAMES = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}


def public_origin(connection: ASGIConnection[Any, Any, Any, Any], public_url: str | None) -> str:
    """`<scheme>://<host>` as the client addressed the sandbox (`public_url` behind a proxy)."""
    if public_url:
        return public_url.rstrip("/")
    return str(connection.base_url).rstrip("/")


def rest_base(request: Request[Any, Any, Any], public_url: str | None) -> str:
    """`<scheme>://<host>/services/rest`, as the client addressed the sandbox."""
    return public_origin(request, public_url) + "/services/rest"


def json_response(body: Any, status: int = 200, media_type: str = RESOURCE_MEDIA_TYPE) -> Response[bytes]:
    return Response(content=_encoder.encode(body), status_code=status, media_type=media_type)


def _self(href: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": href}]


def _ref(base: str, record_type: str, record_id: str, name: str) -> dict[str, Any]:
    return {"links": _self(f"{base}/record/v1/{record_type}/{record_id}"), "id": record_id, "refName": name}


def _sub_ref(store: Store, base: str, sub_id: str) -> dict[str, Any]:
    sub = store.state.subsidiaries.get(sub_id)
    return _ref(base, "subsidiary", sub_id, sub.name if sub else sub_id)


def _cur_ref(store: Store, base: str, cur_id: str) -> dict[str, Any]:
    cur = store.state.currencies.get(cur_id)
    return _ref(base, "currency", cur_id, cur.symbol if cur else cur_id)


def customer_json(store: Store, rec: CustomerRecord, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "links": _self(f"{base}/record/v1/customer/{rec.id}"),
        "id": rec.id,
        "entityId": f"CUS{rec.id}",
        "companyName": rec.company_name,
        "isPerson": rec.is_person,
        "subsidiary": _sub_ref(store, base, rec.subsidiary_id),
        "currency": _cur_ref(store, base, rec.currency_id),
        "dateCreated": format_time(rec.date_created),
        "lastModifiedDate": format_time(rec.last_modified),
    }
    if rec.external_id:
        body["externalId"] = rec.external_id
    if rec.email:
        body["email"] = rec.email
    if rec.terms:
        body["terms"] = _ref(base, "term", TERM_IDS.get(rec.terms, rec.terms), rec.terms)
    if rec.credit_limit is not None:
        body["creditLimit"] = rec.credit_limit
    for field, value in custom_fields(rec).items():
        if value is not None:
            body[field] = value
    return body


def custom_fields(rec: CustomerRecord) -> dict[str, str | None]:
    """The customer's `custentity_fig_*` fields (customer-master attributes NetSuite has no field for)."""
    return {
        "custentity_fig_region": rec.region,
        "custentity_fig_industry": rec.industry,
        "custentity_fig_billing_country": rec.billing_country,
        "custentity_fig_tax_jurisdiction": rec.tax_jurisdiction,
    }


def _line_json(store: Store, base: str, order_id: str, line: OrderLine) -> dict[str, Any]:
    item = store.state.items.get(line.item_id)
    return {
        "links": _self(f"{base}/record/v1/salesOrder/{order_id}/item/{line.line}"),
        "line": line.line,
        "item": _ref(base, "serviceSaleItem", line.item_id, item.item_id if item else line.item_id),
        "quantity": line.quantity,
        "rate": line.rate,
        "amount": line.amount,
        "isClosed": line.is_closed,
        **({"description": line.description} if line.description else {}),
        **({"taxCode": _tax_ref(store, base, line.tax_code_id)} if line.tax_code_id else {}),
    }


def _tax_ref(store: Store, base: str, tax_code_id: str) -> dict[str, Any]:
    tax = store.state.tax_codes.get(tax_code_id)
    return _ref(base, "salesTaxItem", tax_code_id, tax.item_id if tax else tax_code_id)


def sales_order_lines_json(store: Store, rec: SalesOrderRecord, base: str) -> dict[str, Any]:
    items = [_line_json(store, base, rec.id, line) for line in rec.lines]
    return {
        "links": _self(f"{base}/record/v1/salesOrder/{rec.id}/item"),
        "count": len(items),
        "hasMore": False,
        "offset": 0,
        "totalResults": len(items),
        "items": items,
    }


def sales_order_json(store: Store, rec: SalesOrderRecord, base: str, *, expand: bool) -> dict[str, Any]:
    customer = store.state.customers.get(rec.entity_id)
    status_name = ORDER_STATUS_NAMES.get(rec.order_status, rec.order_status)
    body: dict[str, Any] = {
        "links": _self(f"{base}/record/v1/salesOrder/{rec.id}"),
        "id": rec.id,
        "tranId": rec.tran_id,
        "entity": _ref(base, "customer", rec.entity_id, customer.company_name if customer else rec.entity_id),
        "subsidiary": _sub_ref(store, base, rec.subsidiary_id),
        "currency": _cur_ref(store, base, rec.currency_id),
        "tranDate": rec.tran_date.isoformat(),
        "orderStatus": {"id": rec.order_status, "refName": status_name},
        "status": {"id": status_name, "refName": status_name},
        "subtotal": rec.total,
        "total": rec.total,
        "dateCreated": format_time(rec.date_created),
        "lastModifiedDate": format_time(rec.last_modified),
        "item": sales_order_lines_json(store, rec, base)
        if expand
        else {"links": _self(f"{base}/record/v1/salesOrder/{rec.id}/item")},
    }
    for key, value in (("externalId", rec.external_id), ("memo", rec.memo), ("otherRefNum", rec.other_ref)):
        if value:
            body[key] = value
    for field, segment_id in rec.segments.items():
        body[field] = segment_ref(field, segment_id)
    body.update(rec.custom_fields)
    return body


def subsidiary_json(store: Store, rec: Subsidiary, base: str) -> dict[str, Any]:
    return {
        "links": _self(f"{base}/record/v1/subsidiary/{rec.id}"),
        "id": rec.id,
        "name": rec.name,
        "country": {"id": rec.country, "refName": rec.country},
        "currency": _cur_ref(store, base, rec.currency_id),
        "custrecord_fig_legal_entity": rec.legal_entity,
    }


def currency_json(rec: Currency, base: str) -> dict[str, Any]:
    return {"links": _self(f"{base}/record/v1/currency/{rec.id}"), "id": rec.id, "symbol": rec.symbol, "name": rec.name}


def item_json(rec: Item, base: str) -> dict[str, Any]:
    return {
        "links": _self(f"{base}/record/v1/serviceSaleItem/{rec.id}"),
        "id": rec.id,
        "itemId": rec.item_id,
        "displayName": rec.display_name,
        "revenueRecognitionRule": {"id": rec.revenue_category, "refName": rec.revenue_category},
        "custitem_fig_revenue_category": rec.revenue_category,
        "basePrice": rec.base_price,
    }


def period_json(store: Store, rec: AccountingPeriod, base: str) -> dict[str, Any]:
    return {
        "links": _self(f"{base}/record/v1/accountingPeriod/{rec.id}"),
        "id": rec.id,
        "periodName": rec.name,
        "subsidiary": _sub_ref(store, base, rec.subsidiary_id),
        "startDate": rec.start_date.isoformat(),
        "endDate": rec.end_date.isoformat(),
        "closed": rec.closed,
        **({"closedOnDate": format_time(rec.closed_on)} if rec.closed_on else {}),
        "lastModifiedDate": format_time(rec.last_modified),
    }


def tax_code_json(store: Store, rec: TaxCode, base: str) -> dict[str, Any]:
    return {
        "links": _self(f"{base}/record/v1/salesTaxItem/{rec.id}"),
        "id": rec.id,
        "itemId": rec.item_id,
        "description": rec.description,
        "rate": rec.rate,
        "country": {"id": rec.country, "refName": rec.country},
        "subsidiary": _sub_ref(store, base, rec.subsidiary_id),
        **({"custitem_fig_tax_jurisdictions": ",".join(rec.jurisdictions)} if rec.jurisdictions else {}),
        **({"custitem_fig_revenue_category": rec.revenue_category} if rec.revenue_category else {}),
    }


def collection(url: str, ids: list[str], record_url: str, *, limit: int, offset: int) -> dict[str, Any]:
    """NetSuite's record collection page: ids with links, and next/previous/first/last links."""
    total = len(ids)
    page = ids[offset : offset + limit]
    links = [{"rel": "self", "href": f"{url}?limit={limit}&offset={offset}"}]
    if offset + limit < total:
        links.append({"rel": "next", "href": f"{url}?limit={limit}&offset={offset + limit}"})
    if offset > 0:
        links.append({"rel": "previous", "href": f"{url}?limit={limit}&offset={max(offset - limit, 0)}"})
    last = max((total - 1) // limit * limit, 0)
    links += [
        {"rel": "first", "href": f"{url}?limit={limit}&offset=0"},
        {"rel": "last", "href": f"{url}?limit={limit}&offset={last}"},
    ]
    return {
        "links": links,
        "count": len(page),
        "hasMore": offset + limit < total,
        "offset": offset,
        "totalResults": total,
        "items": [{"links": _self(f"{record_url}/{i}"), "id": i} for i in page],
    }
