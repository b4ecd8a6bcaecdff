"""The `validated` gate's controls: approval, entity and product mapping, currency, amount consistency."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from contracts import Account, Opportunity, ProblemFieldError
from process_apis.controls import EntityMapping, MappingSet, RuleSet, load_rule_set

__all__ = ["ValidationOutcome", "is_approved", "not_approved_detail", "validate_opportunity"]


class ValidationOutcome(msgspec.Struct, kw_only=True, frozen=True):
    entity: EntityMapping | None
    violations: list[ProblemFieldError]

    @property
    def ok(self) -> bool:
        return not self.violations


def is_approved(opportunity: Opportunity) -> bool:
    """Approved for quote-to-cash: won in CRM and its approval status is `approved`."""
    return opportunity.is_won and opportunity.approval_status == "approved"


def not_approved_detail(opportunity: Opportunity) -> str:
    return (
        f"Opportunity {opportunity.id} is not approved for quote-to-cash: stage {opportunity.stage!r}, "
        f"approval status {opportunity.approval_status!r}; it needs to be won with approval status 'approved'."
    )


def validate_opportunity(
    opportunity: Opportunity,
    mapping: MappingSet,
    rules: RuleSet | None = None,
    account: Account | None = None,
) -> ValidationOutcome:
    """Every violation of the rule set's enabled controls at once, each located by a JSON path.

    `account` is the opportunity's CRM account (for `tax_jurisdiction_present`); None skips it.
    """
    rules = rules or load_rule_set()
    violations: list[ProblemFieldError] = []

    def refuse(location: str, message: str) -> None:
        violations.append(ProblemFieldError(location=location, message=message))

    if rules.enabled("approval_status") and not is_approved(opportunity):
        refuse("$.approval_status", not_approved_detail(opportunity))
    for field in rules.fields("mandatory_dimensions"):
        if field != "region" and not getattr(opportunity, field, None):
            refuse(f"$.{field}", f"mandatory dimension {field!r} is missing")
    entity = mapping.entity_for(opportunity.region)
    if entity is None and rules.enabled("entity_mapping"):
        refuse("$.region", f"region {opportunity.region!r} is not mapped to a legal entity in {mapping.version}")
    currency = opportunity.amount.currency
    if entity is not None and rules.enabled("currency_allowed") and currency not in entity.currencies:
        refuse(
            "$.amount.currency",
            f"currency {currency} is not allowed for {entity.legal_entity} (allowed: {', '.join(entity.currencies)})",
        )
    if account is not None and rules.enabled("tax_jurisdiction_present") and not account.tax_jurisdiction:
        refuse("$.account.tax_jurisdiction", f"CRM account {account.id} has no tax jurisdiction")
    total = Decimal("0")
    for index, line in enumerate(opportunity.lines):
        where = f"$.lines[{index}]"
        if rules.enabled("product_mapping") and mapping.product(line.product_code) is None:
            refuse(f"{where}.product_code", f"product {line.product_code!r} is not mapped to an ERP item")
        if line.total.currency != currency or line.unit_price.currency != currency:
            refuse(f"{where}.total.currency", f"line currency differs from the opportunity currency {currency}")
        if line.quantity <= 0:
            refuse(f"{where}.quantity", "quantity must be positive")
        total += line.total.amount
    if rules.enabled("lines_sum_to_amount") and opportunity.lines and total != opportunity.amount.amount:
        refuse("$.amount.amount", f"lines sum to {total}, the opportunity amount is {opportunity.amount.amount}")
    return ValidationOutcome(entity=entity, violations=violations)
