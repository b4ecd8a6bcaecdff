"""Validation and application of record writes, refusing bad input the way NetSuite does.

Every refusal is 400 `INVALID_CONTENT` with `o:errorPath` naming the offending field, e.g.
`entity` for an unknown customer, `item.items[0].item` for an unknown item or
`item.items[0].taxCode` for a tax code that is unknown or of another subsidiary than the order's.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.segments import SEGMENTS, custom_body_fields, segment_refs
from system_apis.erp.sandbox.store import TERMS, CustomerRecord, OrderLine, SalesOrderRecord, Store, utcnow

__all__ = ["apply_customer", "apply_sales_order", "parse_body"]

_CUSTOM_FIELDS = {
    "custentity_fig_region": "region",
    "custentity_fig_industry": "industry",
    "custentity_fig_billing_country": "billing_country",
    "custentity_fig_tax_jurisdiction": "tax_jurisdiction",
}
_CUSTOMER_FIELDS = {
    "companyName",
    "subsidiary",
    "currency",
    "email",
    "isPerson",
    "externalId",
    "creditLimit",
    "terms",
    *_CUSTOM_FIELDS,
}
_ORDER_FIELDS = {
    "entity",
    "subsidiary",
    "currency",
    "tranDate",
    "externalId",
    "otherRefNum",
    "memo",
    "orderStatus",
    "item",
    *SEGMENTS,
}
_LINE_FIELDS = {"item", "quantity", "rate", "amount", "description", "taxCode"}
#: What a line update of an existing order (lines addressed by `line`, no `item`) may carry.
_LINE_UPDATE_FIELDS = {"line", "isClosed"}
_STATUSES = set("ABCDEFGH")
#: Pending Billing and Billed: their lines are fulfilled; closing them needs a reversal the sandbox
#: does not emulate (credit memo, return authorization).
_BILLING_STATUSES = frozenset("FG")


def invalid(path: str, detail: str) -> NetSuiteError:
    return NetSuiteError(400, "INVALID_CONTENT", detail, path)


def parse_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request, numbers as Decimal (never float)."""
    try:
        body = json.loads(raw or b"{}", parse_float=Decimal)
    except ValueError:
        raise NetSuiteError(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise NetSuiteError(400, "INVALID_CONTENT", "The request body must be a JSON object.")
    return body


def _check_fields(body: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise invalid(prefix + key, f"Invalid field: {prefix}{key}.")


def _ref_id(value: Any, path: str) -> str:
    if isinstance(value, dict) and isinstance(value.get("id"), str | int) and not isinstance(value.get("id"), bool):
        return str(value["id"])
    raise invalid(path, f'The field {path} must be a reference object such as {{"id": "1"}}.')


def _unknown(path: str, value: str) -> NetSuiteError:
    return invalid(
        path,
        f"Error while accessing a resource. You have entered an Invalid Field Value {value} for the following "
        f"field: {path}",
    )


def _text(body: dict[str, Any], key: str, path: str | None = None) -> str | None:
    value = body.get(key)
    if value is None or isinstance(value, str):
        return value
    raise invalid(path or key, f"The field {path or key} must be a string.")


def _number(value: Any, path: str, *, positive: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise invalid(path, f"The field {path} must be a number.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise invalid(path, f"The field {path} must be a number.") from None
    if not number.is_finite() or (positive and number <= 0):
        raise invalid(path, f"The field {path} must be a {'positive ' if positive else ''}number.")
    return number


def _external_id(body: dict[str, Any], path_eid: str | None) -> str | None:
    eid = _text(body, "externalId")
    if path_eid is not None and eid is not None and eid != path_eid:
        raise invalid("externalId", "externalId in the body differs from the one in the URL.")
    return path_eid or eid


def apply_customer(
    store: Store, body: dict[str, Any], existing: CustomerRecord | None, path_eid: str | None = None
) -> CustomerRecord:
    """The customer after this write (created when `existing` is None); nothing is stored here."""
    _check_fields(body, _CUSTOMER_FIELDS)
    state = store.state
    name = _text(body, "companyName")
    if existing is None and not name:
        raise invalid("companyName", "Please enter value(s) for: Company Name.")
    sub_id = _ref_id(body["subsidiary"], "subsidiary") if "subsidiary" in body else None
    if sub_id is not None and sub_id not in state.subsidiaries:
        raise _unknown("subsidiary", sub_id)
    if existing is None and sub_id is None:
        raise invalid("subsidiary", "Please enter value(s) for: Primary Subsidiary.")
    cur_id = _ref_id(body["currency"], "currency") if "currency" in body else None
    if cur_id is not None and cur_id not in state.currencies:
        raise _unknown("currency", cur_id)
    eid = _external_id(body, path_eid)
    if eid is not None and existing is None and store.customer(f"eid:{eid}") is not None:
        raise NetSuiteError(400, "DUP_ENTITY", "This entity already exists.", "externalId")
    is_person = body.get("isPerson", existing.is_person if existing else False)
    if not isinstance(is_person, bool):
        raise invalid("isPerson", "The field isPerson must be a boolean.")
    credit = _number(body["creditLimit"], "creditLimit") if body.get("creditLimit") is not None else None
    if credit is not None and credit < 0:
        raise invalid("creditLimit", "The field creditLimit must not be negative.")
    terms = None
    if body.get("terms") is not None:
        term_id = _ref_id(body["terms"], "terms")
        if term_id not in TERMS:
            raise _unknown("terms", term_id)
        terms = TERMS[term_id]
    custom = {attr: _text(body, field) for field, attr in _CUSTOM_FIELDS.items() if field in body}
    if (
        existing is not None
        and sub_id is not None
        and sub_id != existing.subsidiary_id
        and _has_transactions(store, existing.id)
    ):
        raise invalid(
            "subsidiary",
            "You cannot change the primary subsidiary of a customer that has transactions.",
        )
    now = utcnow()
    if existing is None:
        assert sub_id is not None  # checked above
        return CustomerRecord(
            id=store.new_customer_id(),
            company_name=name or "",
            subsidiary_id=sub_id,
            currency_id=cur_id or state.subsidiaries[sub_id].currency_id,
            date_created=now,
            last_modified=now,
            external_id=eid,
            email=_text(body, "email"),
            is_person=is_person,
            terms=terms or "Net 30",
            credit_limit=credit,
            **custom,
        )
    existing.company_name = name or existing.company_name
    existing.subsidiary_id = sub_id or existing.subsidiary_id
    existing.currency_id = cur_id or existing.currency_id
    existing.external_id = eid or existing.external_id
    existing.email = _text(body, "email") if "email" in body else existing.email
    existing.is_person = is_person
    existing.credit_limit = credit if "creditLimit" in body else existing.credit_limit
    existing.terms = terms if "terms" in body else existing.terms
    for attr, value in custom.items():
        setattr(existing, attr, value)
    existing.last_modified = now
    return existing


def _has_transactions(store: Store, customer_id: str) -> bool:
    return any(order.entity_id == customer_id for order in store.state.sales_orders.values())


def _tax_code(store: Store, raw: dict[str, Any], path: str, subsidiary_id: str) -> str | None:
    """The line's tax code id: a `salestaxitem` of the order's subsidiary (its nexus), or none."""
    if raw.get("taxCode") is None:
        return None
    tax_id = _ref_id(raw["taxCode"], path)
    tax = store.state.tax_codes.get(tax_id)
    if tax is None:
        raise _unknown(path, tax_id)
    if tax.subsidiary_id != subsidiary_id:
        raise invalid(path, f"Invalid taxCode reference key {tax_id} for subsidiary {subsidiary_id}.")
    return tax_id


def _lines(store: Store, sublist: Any, subsidiary_id: str) -> list[OrderLine]:
    if not isinstance(sublist, dict) or not isinstance(sublist.get("items"), list) or not sublist["items"]:
        raise invalid("item", "Please enter value(s) for: Items (at least one line).")
    lines = []
    for n, raw in enumerate(sublist["items"]):
        prefix = f"item.items[{n}]."
        if not isinstance(raw, dict):
            raise invalid(f"item.items[{n}]", "A sublist line must be an object.")
        _check_fields(raw, _LINE_FIELDS, prefix)
        item_id = _ref_id(raw.get("item"), prefix + "item")
        item = store.state.items.get(item_id)
        if item is None:
            raise _unknown(prefix + "item", item_id)
        quantity = _number(raw.get("quantity", 1), prefix + "quantity", positive=True)
        rate = _number(raw["rate"], prefix + "rate") if raw.get("rate") is not None else item.base_price
        amount = _number(raw["amount"], prefix + "amount") if raw.get("amount") is not None else quantity * rate
        lines.append(
            OrderLine(
                line=n + 1,
                item_id=item_id,
                quantity=quantity,
                rate=rate,
                amount=amount,
                description=_text(raw, "description", prefix + "description"),
                tax_code_id=_tax_code(store, raw, prefix + "taxCode", subsidiary_id),
            )
        )
    return lines


def _is_line_update(sublist: Any) -> bool:
    """Whether an `item` sublist addresses existing lines by `line` (a merge update), not new lines."""
    items = sublist.get("items") if isinstance(sublist, dict) else None
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(raw, dict) and "line" in raw and "item" not in raw for raw in items)
    )


def _closed_lines(existing: SalesOrderRecord, sublist: dict[str, Any]) -> list[OrderLine]:
    """The order's lines after closing every one of them (`{"line": n, "isClosed": true}` each).

    NetSuite closes an order by closing its lines; once all are closed the order is Closed (H). The
    sandbox emulates closing all lines of an order that is not being billed; anything else a line
    update could do (reopening, changing quantities, closing some lines only) it refuses.
    """
    by_line = {line.line: line for line in existing.lines}
    closing: set[int] = set()
    for n, raw in enumerate(sublist["items"]):
        prefix = f"item.items[{n}]."
        _check_fields(raw, _LINE_UPDATE_FIELDS, prefix)
        number = raw["line"]
        if isinstance(number, bool) or not isinstance(number, int) or number not in by_line:
            raise _unknown(prefix + "line", str(number))
        if raw.get("isClosed") is not True:
            raise invalid(
                prefix + "isClosed",
                "This sandbox emulates closing lines only (isClosed: true); other line updates are not emulated.",
            )
        if existing.order_status in _BILLING_STATUSES:
            raise invalid(prefix + "isClosed", "You cannot close a line that has been fulfilled or billed.")
        closing.add(number)
    if closing != set(by_line) and not all(by_line[n].is_closed for n in set(by_line) - closing):
        raise invalid(
            "item",
            "This sandbox emulates closing every line of an order at once; closing some lines only is not emulated.",
        )
    return [msgspec.structs.replace(line, is_closed=True) for line in existing.lines]


def _status(value: Any) -> str:
    code = value.get("id") if isinstance(value, dict) else value
    if not isinstance(code, str) or code not in _STATUSES:
        raise invalid("orderStatus", f"Invalid orderStatus {code!r}; use one of A..H.")
    return code


def _tran_date(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid("tranDate", "tranDate must be a date YYYY-MM-DD.") from None


def apply_sales_order(
    store: Store, body: dict[str, Any], existing: SalesOrderRecord | None, path_eid: str | None = None
) -> SalesOrderRecord:
    """The sales order after this write; a new one defaults to `orderStatus` A (Pending Approval).

    Simplification: a write that carries `item` replaces the whole sublist (NetSuite merges by line
    unless `?replace=item` is given).
    """
    _check_fields({k: v for k, v in body.items() if not k.startswith("custbody")}, _ORDER_FIELDS)
    segments = segment_refs(body)
    custom = custom_body_fields(body)
    state = store.state
    entity_id = _ref_id(body["entity"], "entity") if "entity" in body else None
    if existing is None and entity_id is None:
        raise invalid("entity", "Please enter value(s) for: Customer.")
    customer = state.customers.get(entity_id or (existing.entity_id if existing else ""))
    if customer is None:
        raise _unknown("entity", entity_id or "")
    sub_id = _ref_id(body["subsidiary"], "subsidiary") if "subsidiary" in body else None
    if sub_id is not None and sub_id not in state.subsidiaries:
        raise _unknown("subsidiary", sub_id)
    sub_id = sub_id or (existing.subsidiary_id if existing else customer.subsidiary_id)
    if sub_id != customer.subsidiary_id:
        raise invalid("subsidiary", f"Invalid subsidiary reference key {sub_id} for entity {customer.id}.")
    cur_id = _ref_id(body["currency"], "currency") if "currency" in body else None
    if cur_id is not None and cur_id not in state.currencies:
        raise _unknown("currency", cur_id)
    status = _status(body["orderStatus"]) if "orderStatus" in body else None
    if existing is not None and _is_line_update(body.get("item")):
        lines: list[OrderLine] | None = _closed_lines(existing, body["item"])
        status = "H"
    else:
        lines = _lines(store, body["item"], sub_id) if "item" in body or existing is None else None
    tran_date = _tran_date(body["tranDate"]) if "tranDate" in body else None
    eid = _external_id(body, path_eid)
    if eid is not None and existing is None and store.sales_order(f"eid:{eid}") is not None:
        raise NetSuiteError(400, "DUP_RCRD", "A record with this external ID already exists.", "externalId")
    now = utcnow()
    if existing is None:
        assert lines is not None  # required above
        order_id, tran_id = store.new_sales_order_ids()
        return SalesOrderRecord(
            id=order_id,
            tran_id=tran_id,
            entity_id=customer.id,
            subsidiary_id=sub_id,
            currency_id=cur_id or customer.currency_id,
            tran_date=tran_date or now.date(),
            order_status=status or "A",
            lines=lines,
            date_created=now,
            last_modified=now,
            external_id=eid,
            memo=_text(body, "memo"),
            other_ref=_text(body, "otherRefNum"),
            segments=segments,
            custom_fields=custom,
        )
    existing.entity_id = customer.id
    existing.subsidiary_id = sub_id
    existing.currency_id = cur_id or existing.currency_id
    existing.tran_date = tran_date or existing.tran_date
    existing.order_status = status or existing.order_status
    existing.lines = lines if lines is not None else existing.lines
    existing.external_id = eid or existing.external_id
    existing.memo = _text(body, "memo") if "memo" in body else existing.memo
    existing.other_ref = _text(body, "otherRefNum") if "otherRefNum" in body else existing.other_ref
    existing.segments = {**existing.segments, **segments}
    existing.custom_fields = {**existing.custom_fields, **custom}
    existing.last_modified = now
    return existing
