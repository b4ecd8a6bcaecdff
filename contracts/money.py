"""Money as a decimal amount and an ISO 4217 currency code; never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

__all__ = ["DECIMAL_PATTERN", "POSITIVE_DECIMAL_PATTERN", "Amount", "CurrencyCode", "Money"]

#: A finite decimal as text, of a size every service computes with (`Decimal`'s 28 digits): at
#: most 15 integer digits, 40 decimal places and a one-digit exponent. What `Decimal(text)` takes
#: minus NaN, infinities, blanks and `_` separators, and the forms `str(Decimal)` writes for such
#: values (`-0`, `1E+5`, `0E-8`). Published as the `pattern` of every decimal field
#: (servicekit.openapi), so a validator outside the model refuses `"NaN"` and `"1e-99999"` too, and
#: enforced on every request body (servicekit.body).
DECIMAL_PATTERN = r"^[+-]?([0-9]{1,15}(\.[0-9]{0,40})?|\.[0-9]{1,40})([eE][+-]?[0-9])?$"
#: The same, greater than zero (a quantity): a non-zero digit, no sign but `+`.
POSITIVE_DECIMAL_PATTERN = r"^\+?([1-9][0-9]{0,14}(\.[0-9]{0,40})?|0?\.0{0,19}[1-9][0-9]{0,20})([eE][+-]?[0-9])?$"

#: A decimal amount; the model also refuses non-finite values (`__post_init__`).
Amount = Annotated[Decimal, msgspec.Meta(extra_json_schema={"pattern": DECIMAL_PATTERN})]

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class Money(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """An amount in one currency. On the wire the amount is a decimal string: `"1234.50"`."""

    amount: Amount
    currency: CurrencyCode

    def __post_init__(self) -> None:
        if not self.amount.is_finite():
            raise ValueError(f"amount must be a finite decimal, got {self.amount}")

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount=self.amount + other.amount, currency=self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount=Decimal("0"), currency=currency)
