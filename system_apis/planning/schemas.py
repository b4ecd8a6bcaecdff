"""API-specific shapes of the planning system API beyond the canonical model."""

from __future__ import annotations

from typing import Annotated

import msgspec

from contracts import CommittedBooking, ForecastVersion

__all__ = ["CommittedBookingList", "ForecastVersionList"]


class CommittedBookingList(msgspec.Struct, kw_only=True, frozen=True):
    """Committed-bookings cells read back from the planning platform for one entity/period filter."""

    items: list[CommittedBooking]
    version: Annotated[
        ForecastVersion | None,
        msgspec.Meta(
            description=(
                "The version the cells belong to (the model's committed-bookings version). `published` is true "
                "only if the version was published both before and after the cells were read, so published "
                "cells are the locked figures; a reporter must not report the cells of an unpublished version. "
                "null when the model has no such version."
            )
        ),
    ] = None


class ForecastVersionList(msgspec.Struct, kw_only=True, frozen=True):
    """The planning model's versions, in the model's order; published ones refuse writes."""

    items: list[ForecastVersion]
