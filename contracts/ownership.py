"""Which system owns which customer-master field (DESIGN.md section 3, customer master sync).

CRM owns the commercial fields, ERP the financial ones. An update says where the change came from
(`origin`); it may only carry fields its origin owns. So a CRM user cannot change payment terms
through the integration, while the sync may copy ERP's terms into CRM's read-only mirror, because
that change originates in ERP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, Literal

import msgspec

__all__ = ["CUSTOMER_MASTER_OWNERS", "FieldOwnershipViolation", "System", "ownership_violations"]

System = Literal["crm", "erp"]

CUSTOMER_MASTER_OWNERS: Final[Mapping[str, System]] = {
    "name": "crm",
    "billing_country": "crm",
    "region": "crm",
    "industry": "crm",
    "email": "crm",
    "subsidiary_id": "erp",
    "currency": "erp",
    "terms": "erp",
    "credit_limit": "erp",
    "tax_jurisdiction": "erp",
    "erp_customer_id": "erp",
}


class FieldOwnershipViolation(msgspec.Struct, kw_only=True, frozen=True):
    field: str
    owner: System
    origin: System


def ownership_violations(origin: System, fields: Iterable[str]) -> list[FieldOwnershipViolation]:
    """The fields in `fields` that `origin` does not own (unknown fields are owned by nobody: 'crm'
    and 'erp' both violate)."""
    found = []
    for field in fields:
        owner = CUSTOMER_MASTER_OWNERS.get(field)
        if owner != origin:
            found.append(FieldOwnershipViolation(field=field, owner=owner or "crm", origin=origin))
    return found
