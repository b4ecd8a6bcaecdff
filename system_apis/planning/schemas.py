"""API-specific shapes of the planning system API beyond the canonical model."""

from __future__ import annotations

import msgspec

from contracts import CommittedBooking

__all__ = ["CommittedBookingList"]


class CommittedBookingList(msgspec.Struct, kw_only=True, frozen=True):
    """Committed-bookings cells read back from the planning platform for one entity/period filter."""

    items: list[CommittedBooking]
