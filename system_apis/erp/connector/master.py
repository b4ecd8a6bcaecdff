"""Customer-master changes (`CustomerMasterChanges`) as a NetSuite customer PATCH body.

Standard fields map onto NetSuite's own (`companyName`, `email`, `subsidiary`, `currency`,
`terms` as a `term` reference, `creditLimit`); the attributes NetSuite has no standard body field
for are custom entity fields of the account (`custentity_fig_region`, `..._industry`,
`..._billing_country`, `..._tax_jurisdiction`). Ownership is checked before this (see
`servicekit.ownership`); this module only says how an allowed change is written.
"""

from __future__ import annotations

from typing import Any, Final

from contracts import Customer, CustomerMasterChanges
from system_apis.erp.connector.mapping import currency_id
from system_apis.erp.errors import ErpMappingError

__all__ = ["MASTER_FIELDS", "TERM_IDS", "master_changes_to_vendor"]

#: Payment terms of the account (`term` records): name → internal id.
TERM_IDS: Final = {"Net 15": "1", "Net 30": "2", "Net 45": "3", "Net 60": "4", "Due on receipt": "5"}

#: Canonical customer-master field → NetSuite customer field.
MASTER_FIELDS: Final = {
    "name": "companyName",
    "email": "email",
    "subsidiary_id": "subsidiary",
    "currency": "currency",
    "terms": "terms",
    "credit_limit": "creditLimit",
    "region": "custentity_fig_region",
    "industry": "custentity_fig_industry",
    "billing_country": "custentity_fig_billing_country",
    "tax_jurisdiction": "custentity_fig_tax_jurisdiction",
}


def _refuse(field: str, detail: str) -> ErpMappingError:
    return ErpMappingError(detail, field=f"$.changes.{field}")


def master_changes_to_vendor(changes: CustomerMasterChanges, current: Customer) -> dict[str, Any]:
    """The PATCH body for `changes` to the customer `current` (empty when nothing is to be written).

    Refuses (ErpMappingError, located at `$.changes.<field>`) what NetSuite could not hold: an
    empty name, unknown payment terms or currency, a credit limit in another currency than the
    customer's, and any attempt to change `erp_customer_id` (the record's own internal id).
    """
    body: dict[str, Any] = {}
    if changes.erp_customer_id is not None and changes.erp_customer_id != current.id:
        raise _refuse(
            "erp_customer_id", f"erp_customer_id is this record's internal id {current.id}; it cannot change."
        )
    if changes.name is not None:
        if not changes.name.strip():
            raise _refuse("name", "The customer name must not be empty.")
        body["companyName"] = changes.name
    if changes.email is not None:
        body["email"] = changes.email
    if changes.subsidiary_id is not None:
        body["subsidiary"] = {"id": changes.subsidiary_id}
    currency = changes.currency or current.currency
    if changes.currency is not None:
        try:
            body["currency"] = {"id": currency_id(changes.currency)}
        except ErpMappingError as exc:
            raise _refuse("currency", exc.detail) from None
    if changes.terms is not None:
        term = TERM_IDS.get(changes.terms)
        if term is None:
            raise _refuse("terms", f"Unknown payment terms {changes.terms!r}; the ERP has {', '.join(TERM_IDS)}.")
        body["terms"] = {"id": term}
    if changes.credit_limit is not None:
        limit = changes.credit_limit
        if limit.currency != currency:
            raise _refuse("credit_limit", f"The credit limit is in {limit.currency}, the customer in {currency}.")
        if limit.amount < 0:
            raise _refuse("credit_limit", "The credit limit must not be negative.")
        body["creditLimit"] = limit.amount
    for field in ("region", "industry", "billing_country", "tax_jurisdiction"):
        value = getattr(changes, field)
        if value is not None:
            body[MASTER_FIELDS[field]] = value
    return body
