"""API-specific shapes of the planning system API beyond the canonical model."""

from __future__ import annotations

import msgspec

from contracts import CommittedBooking, ForecastVersion

__all__ = ["CommittedBookingList", "ForecastVersionList"]


class CommittedBookingList(msgspec.Struct, kw_only=True, frozen=True):
    """Committed-bookings cells read back from the planning platform for one entity/period filter."""

    items: list[CommittedBooking]


class ForecastVersionList(msgspec.Struct, kw_only=True, frozen=True):
    """The planning model's versions, in the model's order; published ones refuse writes."""

    items: list[ForecastVersion]
