"""Money: a finite decimal amount in one ISO 4217 currency, on the wire a decimal string."""

from __future__ import annotations

import re
from decimal import Decimal

import msgspec
import pytest

from contracts.money import DECIMAL_PATTERN, POSITIVE_DECIMAL_PATTERN, Money


@pytest.mark.parametrize("amount", ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf"])
def test_an_amount_that_is_not_a_finite_number_is_refused(amount: str) -> None:
    with pytest.raises(msgspec.ValidationError, match="finite decimal"):
        msgspec.json.decode(f'{{"amount": "{amount}", "currency": "GBP"}}', type=Money)
    with pytest.raises(ValueError, match="finite decimal"):
        Money(amount=Decimal(amount), currency="GBP")


@pytest.mark.parametrize("currency", ["gbp", "GB", "GBPX", ""])
def test_a_currency_that_is_not_an_iso_code_is_refused(currency: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(f'{{"amount": "1.00", "currency": "{currency}"}}', type=Money)


def test_amounts_add_in_one_currency_only() -> None:
    total = Money(amount=Decimal("1.10"), currency="EUR") + Money(amount=Decimal("2.05"), currency="EUR")
    assert total == Money(amount=Decimal("3.15"), currency="EUR")
    assert Money.zero("EUR") + total == total
    assert Money.zero("JPY") == Money(amount=Decimal("0"), currency="JPY")
    with pytest.raises(ValueError, match="cannot add USD to EUR"):
        total + Money(amount=Decimal("1"), currency="USD")
    with pytest.raises(ValueError, match="cannot add EUR to USD"):
        Money(amount=Decimal("1"), currency="USD") + total
    # Equal codes that are distinct string objects (as decoded from a request) are one currency.
    decoded = msgspec.json.decode(b'{"amount": "0.85", "currency": "EUR"}', type=Money)
    assert (total + decoded).amount == Decimal("4.00")
    assert (decoded + Money(amount=Decimal("1"), currency="".join(["E", "U", "R"]))).currency == "EUR"


def test_money_is_an_immutable_keyword_only_value_that_refuses_unknown_fields() -> None:
    money = Money(amount=Decimal("1"), currency="GBP")
    with pytest.raises(AttributeError):
        money.amount = Decimal("2")  # type: ignore[misc]
    assert {money, Money(amount=Decimal("1.0"), currency="GBP")} == {money}  # hashable, equal by value
    with pytest.raises(TypeError):
        Money(Decimal("1"), "GBP")  # type: ignore[call-arg]  # positional on purpose: refused
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"amount": "1", "currency": "GBP", "fx": "1.2"}', type=Money)


@pytest.mark.parametrize("text", ["0", "-0", "1234.50", "-12.5", "1E+5", "1.2E-7", "0E-8", "+3", ".5", "5."])
def test_the_published_pattern_matches_every_finite_amount_the_model_takes_and_writes(text: str) -> None:
    money = msgspec.json.decode(f'{{"amount": "{text}", "currency": "GBP"}}', type=Money)
    assert re.fullmatch(DECIMAL_PATTERN, text)
    assert re.fullmatch(DECIMAL_PATTERN, msgspec.json.decode(msgspec.json.encode(money))["amount"])


@pytest.mark.parametrize(
    "text",
    ["NaN", "Infinity", "-inf", "1 000", " 1", "1_000", "0x10", "1e", "", "12,50", "1e-52785795840", "1" * 16, "1E+10"],
)
def test_the_published_pattern_refuses_what_is_not_a_finite_decimal(text: str) -> None:
    assert re.fullmatch(DECIMAL_PATTERN, text) is None


POSITIVES = [("1", True), ("0.5", True), (".05", True), ("+2E+3", True)]
NOT_POSITIVES = [("0", False), ("0.000", False), ("-1", False), ("0E+5", False)]


@pytest.mark.parametrize(("text", "positive"), POSITIVES + NOT_POSITIVES)
def test_the_positive_pattern_takes_exactly_the_positive_decimals(text: str, positive: bool) -> None:
    assert bool(re.fullmatch(POSITIVE_DECIMAL_PATTERN, text)) is positive
    assert re.fullmatch(DECIMAL_PATTERN, text)  # a positive decimal is a decimal
    assert (Decimal(text) > 0) is positive


def test_the_published_schema_of_money_carries_the_pattern() -> None:
    schema = msgspec.json.schema(Money)["$defs"]["Money"]
    assert schema["properties"]["amount"]["pattern"] == DECIMAL_PATTERN
    assert schema["additionalProperties"] is False
