"""Size and shape: refuse a declared body over the limit before anything else is spent on it."""

from __future__ import annotations

from gateway.errors import PayloadTooLarge
from gateway.exchange import Exchange
from servicekit import BadRequest

__all__ = ["BodySizePolicy"]


class BodySizePolicy:
    """413 when `Content-Length` is over `limit`; the proxy enforces the same limit on chunked bodies."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def apply(self, exchange: Exchange) -> None:
        declared = exchange.header(b"content-length")
        if declared is None:
            return
        if not declared.isdigit():
            raise BadRequest("The Content-Length header is not a number.", slug="bad-content-length")
        if int(declared) > self.limit:
            raise PayloadTooLarge(self.limit)
