"""Field ownership of the customer master: an update may carry only the fields its origin owns."""

from __future__ import annotations

import msgspec
import pytest

from contracts.model import CustomerMasterChanges, CustomerMasterUpdate
from contracts.ownership import CUSTOMER_MASTER_OWNERS, FieldOwnershipViolation, ownership_violations

CRM_FIELDS = ["name", "billing_country", "region", "industry", "email"]
ERP_FIELDS = ["subsidiary_id", "currency", "terms", "credit_limit", "tax_jurisdiction", "erp_customer_id"]


def test_every_changeable_field_has_exactly_one_owner() -> None:
    assert set(CUSTOMER_MASTER_OWNERS) == set(CustomerMasterChanges.__struct_fields__)
    assert sorted(f for f, o in CUSTOMER_MASTER_OWNERS.items() if o == "crm") == sorted(CRM_FIELDS)
    assert sorted(f for f, o in CUSTOMER_MASTER_OWNERS.items() if o == "erp") == sorted(ERP_FIELDS)


@pytest.mark.parametrize(("origin", "fields"), [("crm", CRM_FIELDS), ("erp", ERP_FIELDS), ("crm", [])])
def test_an_origin_may_change_its_own_fields(origin: str, fields: list[str]) -> None:
    assert ownership_violations(origin, fields) == []  # type: ignore[arg-type]  # parametrized Literal


def test_each_foreign_field_is_a_violation_naming_its_owner_in_order() -> None:
    assert ownership_violations("crm", ["name", "terms", "region", "credit_limit"]) == [
        FieldOwnershipViolation(field="terms", owner="erp", origin="crm"),
        FieldOwnershipViolation(field="credit_limit", owner="erp", origin="crm"),
    ]
    assert ownership_violations("erp", ["terms", "email"]) == [
        FieldOwnershipViolation(field="email", owner="crm", origin="erp")
    ]
    # A violation is a value: hashable (a set of them dedupes repeated fields), never edited in place.
    twice = ownership_violations("erp", ["email", "email"])
    assert len(set(twice)) == 1
    with pytest.raises(AttributeError):
        twice[0].owner = "erp"  # type: ignore[misc]  # frozen on purpose
    with pytest.raises(TypeError):
        FieldOwnershipViolation("email", "crm", "erp")  # type: ignore[call-arg]  # keyword-only on purpose


def test_an_origin_decoded_from_a_request_is_compared_by_value() -> None:
    update = msgspec.json.decode(b'{"origin": "crm", "changes": {"name": "Acme"}}', type=CustomerMasterUpdate)
    origin = "".join(["c", "r", "m"])  # equal to "crm", another object
    assert ownership_violations(origin, ["name"]) == []  # type: ignore[arg-type]  # a str equal to "crm"
    assert ownership_violations(update.origin, update.changes.fields_set()) == []


@pytest.mark.parametrize("origin", ["crm", "erp"])
def test_a_field_nobody_owns_is_refused_from_either_side(origin: str) -> None:
    [violation] = ownership_violations(origin, ["fax"])  # type: ignore[arg-type]  # parametrized Literal
    assert (violation.field, violation.origin) == ("fax", origin)
    assert violation.owner == "crm"
