"""Money as a decimal amount and an ISO 4217 currency code; never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

__all__ = ["AMOUNT_PATTERN", "Amount", "CurrencyCode", "Money"]

#: A finite decimal as text: what `Decimal(text)` takes minus NaN, infinities, blanks and `_`
#: separators, and every form `str(Decimal)` writes (`-0`, `1E+5`, `0E-8`). Published as the
#: amount's `pattern`, so a validator outside the model refuses `"NaN"` too.
AMOUNT_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"

#: A decimal amount; the model also refuses non-finite values (`__post_init__`).
Amount = Annotated[Decimal, msgspec.Meta(extra_json_schema={"pattern": AMOUNT_PATTERN})]

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
