"""The API catalogue: every published API version, its lifecycle state and, once deprecated, its dates.

The gateway reads this to send `Deprecation` (RFC 9745) and `Sunset` (RFC 8594) headers; the
breaking-change gate reads it to allow removing an operation only after its sunset has passed.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec

__all__ = ["CATALOGUE", "ApiVersion", "entries", "entry", "is_sunset"]


class ApiVersion(msgspec.Struct, kw_only=True, frozen=True):
    """One major version of one API as the catalogue lists it."""

    api: str
    version: str
    status: Literal["current", "deprecated", "retired"]
    #: Public path prefix (e.g. `/v1/quote-to-cash`): the operations this entry covers. A document
    #: may hold several APIs of one major version (process v1: quote-to-cash, exceptions, controls).
    prefix: str
    deprecated_on: date | None = None
    sunset_on: date | None = None
    #: The version that replaces this one.
    successor: str | None = None


CATALOGUE: tuple[ApiVersion, ...] = (
    ApiVersion(
        api="process",
        version="v1",
        status="deprecated",
        prefix="/v1/quote-to-cash",
        deprecated_on=date(2026, 11, 27),
        sunset_on=date(2027, 5, 31),
        successor="v2",
    ),
    ApiVersion(api="process", version="v1", status="current", prefix="/v1"),
    ApiVersion(api="process", version="v2", status="current", prefix="/v2/quote-to-cash"),
    ApiVersion(
        api="gateway",
        version="v1",
        status="deprecated",
        prefix="/v1/quote-to-cash",
        deprecated_on=date(2026, 11, 27),
        sunset_on=date(2027, 5, 31),
        successor="v2",
    ),
    ApiVersion(api="gateway", version="v1", status="current", prefix="/v1"),
    ApiVersion(api="gateway", version="v2", status="current", prefix="/v2/quote-to-cash"),
    ApiVersion(api="crm", version="v1", status="current", prefix="/v1"),
    ApiVersion(api="erp", version="v1", status="current", prefix="/v1"),
    ApiVersion(api="planning", version="v1", status="current", prefix="/v1"),
)


def entry(api: str, version: str, path: str | None = None) -> ApiVersion | None:
    """The catalogue entry of `api` `version` (the most specific one covering `path`, when given)."""
    found = [
        e
        for e in CATALOGUE
        if e.api == api
        and e.version == version
        and (path is None or path == e.prefix or path.startswith(e.prefix + "/"))
    ]
    return max(found, key=lambda e: len(e.prefix)) if found else None


def entries(api: str, version: str) -> list[ApiVersion]:
    """Every catalogue entry of `api` `version` (one per API a document carries)."""
    return [e for e in CATALOGUE if e.api == api and e.version == version]


def is_sunset(api: str, version: str, today: date) -> bool:
    """True once the sunset date of a deprecated entry of `api` `version` has passed."""
    return any(e.sunset_on and today > e.sunset_on for e in entries(api, version))
