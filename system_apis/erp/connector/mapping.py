"""NetSuite records ↔ the canonical model: customers, sales orders, statuses, currencies, field paths."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from contracts import Customer, CustomerUpsert, Money, SalesOrder, SalesOrderLine, SalesOrderStatus, SalesOrderUpsert
from system_apis.erp.errors import ErpMappingError, ErpUpstreamError

__all__ = [
    "BOOKED_CODES",
    "CRM_INITIAL_FIELDS",
    "CURRENCY_IDS",
    "ENTITY_SUBSIDIARIES",
    "STATUS_BY_CODE",
    "SUBSIDIARY_ENTITIES",
    "canonical_field",
    "currency_code",
    "currency_id",
    "customer_from_vendor",
    "customer_to_vendor",
    "is_booked",
    "money",
    "parse_time",
    "sales_order_from_rows",
    "sales_order_from_vendor",
    "sales_order_to_vendor",
    "status_codes",
]

#: NetSuite currency internal ids of the account (project brief).
CURRENCY_IDS: Final = {"USD": "1", "GBP": "2", "EUR": "4"}
_CURRENCY_CODES: Final = {v: k for k, v in CURRENCY_IDS.items()}
#: Subsidiary internal id → legal entity code (project brief).
SUBSIDIARY_ENTITIES: Final = {"1": "US01", "2": "DE01", "3": "GB01"}
ENTITY_SUBSIDIARIES: Final = {v: k for k, v in SUBSIDIARY_ENTITIES.items()}

STATUS_BY_CODE: Final[dict[str, SalesOrderStatus]] = {
    "A": "pending_approval",
    "B": "pending_fulfillment",
    "C": "cancelled",
    "D": "partially_fulfilled",
    "E": "pending_billing_partially_fulfilled",
    "F": "pending_billing",
    "G": "billed",
    "H": "closed",
}
_CODE_BY_STATUS: Final = {v: k for k, v in STATUS_BY_CODE.items()}
#: Approved by the ERP and not cancelled/closed: what "booked" means downstream.
BOOKED_CODES: Final = frozenset("BDEFG")

_CUSTOMER_FIELDS: Final = {
    "companyName": "name",
    "subsidiary": "subsidiary_id",
    "currency": "currency",
    "email": "email",
    "externalId": "external_id",
    "terms": "terms",
    "creditLimit": "credit_limit",
    "custentity_fig_region": "region",
    "custentity_fig_industry": "industry",
    "custentity_fig_billing_country": "billing_country",
    "custentity_fig_tax_jurisdiction": "tax_jurisdiction",
}
_ORDER_FIELDS: Final = {
    "entity": "customer_id",
    "subsidiary": "subsidiary_id",
    "currency": "currency",
    "tranDate": "tran_date",
    "memo": "memo",
    "otherRefNum": "other_ref",
    "externalId": "external_id",
    "item": "lines",
}
_LINE_FIELDS: Final = {
    "item": "item_id",
    "quantity": "quantity",
    "rate": "unit_price",
    "amount": "amount",
    "taxCode": "tax_code_id",
}
_LINE_PATH = re.compile(r"^item\.items\[(\d+)\](?:\.(\w+))?$")


def currency_id(code: str) -> str:
    try:
        return CURRENCY_IDS[code]
    except KeyError:
        raise ErpMappingError(f"The ERP account has no currency {code}.", field="currency") from None


def currency_code(ref: Any) -> str:
    """The ISO code of a NetSuite currency reference (`{id, refName}`) or bare id."""
    cid = str(ref.get("id")) if isinstance(ref, dict) else str(ref)
    code = _CURRENCY_CODES.get(cid)
    if code is None:
        raise ErpUpstreamError(f"NetSuite returned currency id {cid!r}, which has no mapping.")
    return code


def is_booked(code: str) -> bool:
    return code in BOOKED_CODES


def status_codes(statuses: list[SalesOrderStatus]) -> list[str]:
    return [_CODE_BY_STATUS[s] for s in statuses]


def money(value: Any, currency: str) -> Money:
    """A vendor number (int, Decimal or numeric string) as Money with at least two decimals."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ErpUpstreamError(f"NetSuite returned a non-numeric amount {value!r}.") from None
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return Money(amount=amount, currency=currency)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)


def canonical_field(vendor_path: str | None, record: str) -> str | None:
    """The canonical field an `o:errorPath` names, e.g. `item.items[0].item` → `lines[0].item_id`."""
    if not vendor_path:
        return None
    if record == "customer":
        return _CUSTOMER_FIELDS.get(vendor_path, vendor_path)
    line = _LINE_PATH.match(vendor_path)
    if line:
        sub = _LINE_FIELDS.get(line[2] or "", line[2])
        return f"lines[{line[1]}]" + (f".{sub}" if sub else "")
    return _ORDER_FIELDS.get(vendor_path, vendor_path)


def _ref(ref: Any, what: str) -> str:
    if isinstance(ref, dict) and ref.get("id") is not None:
        return str(ref["id"])
    raise ErpUpstreamError(f"NetSuite returned no {what} reference.")


#: A customer upsert's CRM-owned attributes (region, industry, billing country): written when the
#: upsert creates the customer, left alone on an existing one (the customer-master sync owns them).
CRM_INITIAL_FIELDS: Final = ("custentity_fig_region", "custentity_fig_industry", "custentity_fig_billing_country")


def customer_to_vendor(external_id: str, cmd: CustomerUpsert) -> dict[str, Any]:
    body: dict[str, Any] = {
        "companyName": cmd.name,
        "isPerson": False,
        "subsidiary": {"id": cmd.subsidiary_id},
        "currency": {"id": currency_id(cmd.currency)},
        "externalId": external_id,
    }
    if cmd.email is not None:
        body["email"] = cmd.email
    for field, value in zip(CRM_INITIAL_FIELDS, (cmd.region, cmd.industry, cmd.billing_country), strict=True):
        if value is not None:
            body[field] = value
    return body


def customer_from_vendor(body: dict[str, Any]) -> Customer:
    currency = currency_code(body.get("currency"))
    terms = body.get("terms")
    credit = body.get("creditLimit")
    return Customer(
        id=str(body["id"]),
        name=str(body.get("companyName") or ""),
        subsidiary_id=_ref(body.get("subsidiary"), "subsidiary"),
        currency=currency,
        external_id=body.get("externalId"),
        email=body.get("email"),
        terms=terms.get("refName") if isinstance(terms, dict) else None,
        credit_limit=money(credit, currency) if credit is not None else None,
        last_modified=parse_time(body.get("lastModifiedDate")),
        region=body.get("custentity_fig_region"),
        industry=body.get("custentity_fig_industry"),
        billing_country=body.get("custentity_fig_billing_country"),
        tax_jurisdiction=body.get("custentity_fig_tax_jurisdiction"),
    )


def sales_order_to_vendor(external_id: str, cmd: SalesOrderUpsert) -> dict[str, Any]:
    """The NetSuite body of an upsert; money amounts go as JSON numbers, as NetSuite reads them."""
    for n, line in enumerate(cmd.lines):
        for name, value in (("unit_price", line.unit_price), ("amount", line.amount)):
            if value.currency != cmd.currency:
                raise ErpMappingError(
                    f"Line {n} {name} is in {value.currency}, the order in {cmd.currency}.",
                    field=f"lines[{n}].{name}",
                )
    body: dict[str, Any] = {
        "entity": {"id": cmd.customer_id},
        "subsidiary": {"id": cmd.subsidiary_id},
        "currency": {"id": currency_id(cmd.currency)},
        "tranDate": cmd.tran_date.isoformat(),
        "externalId": external_id,
        "item": {
            "items": [
                {
                    "item": {"id": line.item_id},
                    "quantity": line.quantity,
                    "rate": line.unit_price.amount,
                    "amount": line.amount.amount,
                    **({"taxCode": {"id": line.tax_code_id}} if line.tax_code_id is not None else {}),
                }
                for line in cmd.lines
            ]
        },
    }
    if cmd.memo is not None:
        body["memo"] = cmd.memo
    if cmd.other_ref is not None:
        body["otherRefNum"] = cmd.other_ref
    return body


def sales_order_from_vendor(body: dict[str, Any]) -> SalesOrder:
    """A canonical order from a NetSuite record read with `expandSubResources=true`."""
    currency = currency_code(body.get("currency"))
    status = body.get("orderStatus")
    code = str(status.get("id")) if isinstance(status, dict) else str(status)
    if code not in STATUS_BY_CODE:
        raise ErpUpstreamError(f"NetSuite returned an unknown orderStatus {code!r}.")
    sublist = body.get("item")
    raw_lines = sublist.get("items", []) if isinstance(sublist, dict) else []
    lines = [
        SalesOrderLine(
            item_id=_ref(line.get("item"), "item"),
            quantity=Decimal(str(line.get("quantity", 1))),
            unit_price=money(line.get("rate", 0), currency),
            amount=money(line.get("amount", 0), currency),
            tax_code_id=_ref(line["taxCode"], "taxCode") if line.get("taxCode") is not None else None,
        )
        for line in raw_lines
    ]
    return SalesOrder(
        id=str(body["id"]),
        customer_id=_ref(body.get("entity"), "entity"),
        subsidiary_id=_ref(body.get("subsidiary"), "subsidiary"),
        currency=currency,
        tran_date=date.fromisoformat(str(body.get("tranDate"))),
        status=STATUS_BY_CODE[code],
        status_code=code,
        booked=is_booked(code),
        total=money(body.get("total", 0), currency),
        external_id=body.get("externalId"),
        tran_id=body.get("tranId"),
        memo=body.get("memo"),
        lines=lines,
        last_modified=parse_time(body.get("lastModifiedDate")),
    )


def sales_order_from_rows(header: dict[str, Any], lines: list[dict[str, Any]]) -> SalesOrder:
    """A canonical order from a SuiteQL `transaction` row and its `transactionline` item rows."""
    currency = currency_code(header.get("currency"))
    code = str(header.get("status"))
    if code not in STATUS_BY_CODE:
        raise ErpUpstreamError(f"NetSuite returned an unknown order status {code!r}.")
    return SalesOrder(
        id=str(header["id"]),
        customer_id=str(header["entity"]),
        subsidiary_id=str(header["subsidiary"]),
        currency=currency,
        tran_date=date.fromisoformat(str(header["trandate"])),
        status=STATUS_BY_CODE[code],
        status_code=code,
        booked=is_booked(code),
        total=money(header.get("foreigntotal") or 0, currency),
        external_id=header.get("externalid"),
        tran_id=header.get("tranid"),
        memo=header.get("memo"),
        lines=[
            SalesOrderLine(
                item_id=str(line["item"]),
                quantity=Decimal(str(line.get("quantity") or 1)),
                unit_price=money(line.get("rate") or 0, currency),
                amount=money(line.get("foreignamount") or 0, currency),
            )
            for line in lines
        ],
        last_modified=parse_time(header.get("lastmodifieddate")),
    )
