"""The in-memory cube of the sandbox model: committed-bookings and actuals module cells.

Cells are keyed by their dimension coordinates, so writing a cell again overwrites it: that is
what makes an Anaplan import idempotent when the source rows carry stable codes.
"""

from __future__ import annotations

import msgspec

__all__ = ["ActualCell", "BookingCell", "Cube"]


class BookingCell(msgspec.Struct, kw_only=True, frozen=True):
    """Committed-bookings module: (booking code, entity, product, period) -> amount in `currency`."""

    booking_code: str
    entity: str
    product: str
    period: str
    currency: str
    #: The amount exactly as imported (a decimal string); never a float.
    amount: str

    @property
    def key(self) -> str:
        return "|".join((self.booking_code, self.entity, self.product, self.period))


class ActualCell(msgspec.Struct, kw_only=True, frozen=True):
    """Actuals module: (version, entity, period, account, product) -> amount in `currency`.

    `version` and `product` default for states saved before the module had those dimensions.
    """

    entity: str
    period: str
    account: str
    currency: str
    amount: str
    version: str = "Actuals"
    product: str = "UNALLOCATED"

    @property
    def key(self) -> str:
        return "|".join((self.version, self.entity, self.period, self.account, self.product))


class Cube(msgspec.Struct, kw_only=True):
    """Both modules' cells by key; insertion order is kept, reads are sorted by coordinates."""

    bookings: dict[str, BookingCell] = msgspec.field(default_factory=dict)
    actuals: dict[str, ActualCell] = msgspec.field(default_factory=dict)

    def put_booking(self, cell: BookingCell) -> None:
        self.bookings[cell.key] = cell

    def put_actual(self, cell: ActualCell) -> None:
        self.actuals[cell.key] = cell

    def booking_rows(self, *, entity: str | None = None, period: str | None = None) -> list[BookingCell]:
        return sorted(
            (
                c
                for c in self.bookings.values()
                if (entity is None or c.entity == entity) and (period is None or c.period == period)
            ),
            key=lambda c: (c.entity, c.period, c.booking_code, c.product),
        )

    def actual_rows(
        self, *, entity: str | None = None, period: str | None = None, version: str | None = None
    ) -> list[ActualCell]:
        return sorted(
            (
                c
                for c in self.actuals.values()
                if (entity is None or c.entity == entity)
                and (period is None or c.period == period)
                and (version is None or c.version == version)
            ),
            key=lambda c: (c.version, c.entity, c.period, c.account, c.product),
        )
