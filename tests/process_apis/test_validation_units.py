"""The `validated` gate's controls one by one: what each refuses, where, and with which message.

Pure function, no services: fast enough to run against every mutant of
`process_apis/workflows/validation.py` (the gate as a whole is covered by test_quote_to_cash.py).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from contracts import Money, Opportunity
from process_apis.controls import RuleSet, load_mapping_set, load_rule_set
from process_apis.workflows.validation import is_approved, validate_opportunity
from tests.process_apis.fake_systems import account_for
from tests.process_apis.fakes import opportunity

MAPPING = load_mapping_set()
RULES = load_rule_set()


def _without(*disabled: str) -> RuleSet:
    rules = [msgspec.structs.replace(rule, enabled=rule.id not in disabled) for rule in RULES.rules]
    return msgspec.structs.replace(RULES, rules=rules)


def _violations(deal: Opportunity, rules: RuleSet | None = None, *, account: bool = True) -> list[tuple[str, str]]:
    # Decoded from JSON, as the CRM system API's answer is: every string its own object.
    deal = msgspec.json.decode(msgspec.json.encode(deal), type=Opportunity)
    outcome = validate_opportunity(deal, MAPPING, rules, account_for(deal) if account else None)
    return [(v.location, v.message) for v in outcome.violations]


def test_an_approved_mapped_consistent_deal_passes_with_its_entity() -> None:
    deal = opportunity()
    outcome = validate_opportunity(deal, MAPPING, RULES, account_for(deal))
    assert outcome.ok is True
    assert outcome.violations == []
    assert outcome.entity is not None
    assert outcome.entity.legal_entity == "GB01"


@pytest.mark.parametrize(("won", "approval"), [(False, "approved"), (True, "pending"), (False, "rejected")])
def test_only_a_won_and_approved_deal_is_approved(won: bool, approval: str) -> None:
    deal = opportunity(is_won=won, approval=approval, stage="Closed Won" if won else "Negotiation")
    assert not is_approved(deal)
    violations = _violations(deal)
    assert [location for location, _ in violations] == ["$.approval_status"]
    assert violations[0][1] == (
        f"Opportunity {deal.id} is not approved for quote-to-cash: stage {deal.stage!r}, "
        f"approval status {approval!r}; it needs to be won with approval status 'approved'."
    )
    assert _violations(deal, _without("approval_status")) == []


def test_a_missing_mandatory_dimension_is_named_and_region_is_left_to_the_entity_mapping() -> None:
    deal = msgspec.structs.replace(opportunity(region=None), account_id="")
    assert _violations(deal, account=False) == [
        ("$.account_id", "mandatory dimension 'account_id' is missing"),
        ("$.region", "region None is not mapped to a legal entity in default-v1"),
    ]
    assert _violations(deal, _without("mandatory_dimensions", "entity_mapping"), account=False) == []


def test_the_rule_set_decides_which_dimensions_are_mandatory() -> None:
    rules = [
        msgspec.structs.replace(rule, fields=["region", "stage", "account_name"])
        if rule.id == "mandatory_dimensions"
        else rule
        for rule in RULES.rules
    ]
    deal = msgspec.structs.replace(opportunity(), stage="", account_name=None)
    outcome = validate_opportunity(deal, MAPPING, msgspec.structs.replace(RULES, rules=rules), account_for(deal))
    assert [(v.location, v.message) for v in outcome.violations] == [
        ("$.stage", "mandatory dimension 'stage' is missing"),
        ("$.account_name", "mandatory dimension 'account_name' is missing"),
    ]
    assert outcome.ok is False


def test_a_deal_without_lines_misses_a_dimension_but_no_sum() -> None:
    deal = opportunity(lines=(), amount="100.00")
    assert _violations(deal) == [("$.lines", "mandatory dimension 'lines' is missing")]


def test_an_unmapped_region_is_refused_and_no_currency_is_checked_without_an_entity() -> None:
    deal = opportunity(region="MARS", currency="XXX")
    assert _violations(deal, account=False) == [
        ("$.region", "region 'MARS' is not mapped to a legal entity in default-v1")
    ]
    assert _violations(deal, _without("entity_mapping"), account=False) == []


def test_a_currency_the_entity_may_not_sell_in_is_refused() -> None:
    deal = opportunity(region="DACH", currency="GBP")
    assert _violations(deal) == [("$.amount.currency", "currency GBP is not allowed for DE01 (allowed: EUR)")]
    assert _violations(deal, _without("currency_allowed")) == []
    assert _violations(opportunity(region="DACH", currency="EUR")) == []


def test_an_account_without_tax_jurisdiction_is_refused_when_the_account_is_known() -> None:
    deal = opportunity()
    account = account_for(deal, tax_jurisdiction=None)
    located = validate_opportunity(deal, MAPPING, RULES, account).violations
    assert [(v.location, v.message) for v in located] == [
        ("$.account.tax_jurisdiction", f"CRM account {account.id} has no tax jurisdiction")
    ]
    assert validate_opportunity(deal, MAPPING, _without("tax_jurisdiction_present"), account).ok
    assert validate_opportunity(deal, MAPPING, RULES, None).ok


def test_every_unmapped_product_is_located_by_its_line() -> None:
    deal = opportunity(lines=(("FIG-SUPP", "1", "10.00"), ("NOPE", "1", "10.00"), ("NADA", "2", "5.00")))
    assert _violations(deal) == [
        ("$.lines[1].product_code", "product 'NOPE' is not mapped to an ERP item"),
        ("$.lines[2].product_code", "product 'NADA' is not mapped to an ERP item"),
    ]
    assert _violations(deal, _without("product_mapping")) == []


@pytest.mark.parametrize("other", ["EUR", "USD"])
@pytest.mark.parametrize("priced", ["total", "unit_price"])
def test_a_line_in_another_currency_is_refused_whatever_the_rule_set(priced: str, other: str) -> None:
    deal = opportunity(lines=(("FIG-SUPP", "1", "10.00"), ("FIG-PLAT", "1", "20.00")))
    line = deal.lines[1]
    foreign = msgspec.structs.replace(line, **{priced: Money(amount=getattr(line, priced).amount, currency=other)})
    deal = msgspec.structs.replace(deal, lines=[deal.lines[0], foreign])
    expected = [("$.lines[1].total.currency", "line currency differs from the opportunity currency GBP")]
    assert _violations(deal) == expected
    assert _violations(deal, _without(*(rule.id for rule in RULES.rules))) == expected


@pytest.mark.parametrize("quantity", ["0", "-1"])
def test_a_line_quantity_must_be_positive(quantity: str) -> None:
    deal = opportunity(lines=(("FIG-SUPP", "1", "10.00"), ("FIG-SUPP", quantity, "10.00")), amount="10.00")
    assert _violations(deal, _without("lines_sum_to_amount")) == [("$.lines[1].quantity", "quantity must be positive")]


def test_lines_must_sum_to_the_amount() -> None:
    deal = opportunity(lines=(("FIG-SUPP", "2", "1500.00"), ("FIG-PLAT", "1", "0.50")), amount="3000.00")
    assert _violations(deal) == [("$.amount.amount", "lines sum to 3000.50, the opportunity amount is 3000.00")]
    assert _violations(deal, _without("lines_sum_to_amount")) == []
    exact = opportunity(lines=(("FIG-SUPP", "2", "1500.00"), ("FIG-PLAT", "1", "0.50")), amount="3000.5")
    assert _violations(exact) == []
    assert exact.amount.amount == Decimal("3000.5")


def test_every_violation_is_reported_at_once() -> None:
    deal = opportunity(region="DACH", approval="pending", lines=(("NOPE", "0", "10.00"),), amount="1.00")
    locations = [location for location, _ in _violations(deal)]
    assert locations == [
        "$.approval_status",
        "$.amount.currency",
        "$.lines[0].product_code",
        "$.lines[0].quantity",
        "$.amount.amount",
    ]
