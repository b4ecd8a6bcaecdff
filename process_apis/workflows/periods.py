"""The ERP's accounting periods as quote-to-cash sees them: which are closed, which is open next.

Quote-to-cash posts a sales order into the period of its date; the ERP's accounting calendar
says whether that period is still open. Reading the calendar for every deal would add an ERP
system API call (and a NetSuite query) per run, so an entity's periods are kept in Redis
(`fig:erp:periods:<entity>`, JSON) for `ttl` seconds and dropped when the ERP reports a period of
that entity closed (`erp.period.closed.v1`), so every instance sees the close from then on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import AccountingPeriod
from process_apis.ports import ErpLedgerPort

__all__ = ["PeriodCalendar", "periods_key"]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(list[AccountingPeriod])


def periods_key(legal_entity: str) -> str:
    return f"fig:erp:periods:{legal_entity}"


class PeriodCalendar:
    """An entity's accounting periods from the ERP, kept for `ttl` seconds (0: read every time)."""

    def __init__(self, redis: Any, erp: ErpLedgerPort, *, ttl: float = 60.0) -> None:
        self.redis: Any = redis
        self.erp = erp
        self.ttl_ms = int(ttl * 1000)

    async def periods(self, legal_entity: str) -> list[AccountingPeriod]:
        if self.ttl_ms > 0:
            raw = await self.redis.get(periods_key(legal_entity))
            if raw is not None:
                return _decoder.decode(raw)
        found = await self.erp.periods(legal_entity)
        if self.ttl_ms > 0:
            await self.redis.set(periods_key(legal_entity), _encoder.encode(found), px=self.ttl_ms)
        return found

    async def status(self, legal_entity: str, period: str) -> str | None:
        """`open` or `closed`, or None when the ERP has no such period for the entity."""
        found = next((p for p in await self.periods(legal_entity) if p.period == period), None)
        return found.status if found is not None else None

    async def open_after(self, legal_entity: str, period: str) -> str | None:
        """The earliest open period after `period` (`YYYY-MM`), or None if the ERP has none."""
        later = sorted(p.period for p in await self.periods(legal_entity) if p.status == "open" and p.period > period)
        return later[0] if later else None

    async def forget(self, legal_entity: str) -> None:
        """The ERP closed (or reopened) a period of the entity: read its calendar again next time."""
        await self.redis.delete(periods_key(legal_entity))
