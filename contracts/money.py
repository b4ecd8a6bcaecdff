"""Money as a decimal amount and an ISO 4217 currency code; never a float."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

__all__ = ["CurrencyCode", "Money"]

CurrencyCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class Money(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """An amount in one currency. On the wire the amount is a decimal string: `"1234.50"`."""

    amount: Decimal
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
