"""Which ERP tax code an order line carries: resolved from the tax jurisdiction and the item.

The rule, from the ERP's own tax codes (`GET /v1/reference/tax-codes` of the ERP system API):

1. only the codes of the run's legal entity count (a tax code belongs to one subsidiary, its nexus);
2. of those, the codes that name the jurisdiction (`US-NY`, `DE`) among their `jurisdictions`;
3. of those, the one limited to the item's revenue category (the ERP item's) wins over the one for
   every category.

Exactly one code must remain at the first tier that has any: none is an unknown combination and
two are an ambiguous one; either parks the run (`unknown_tax_code`) for a person to fix the ERP's
tax codes or the account's jurisdiction. Nothing here knows a tax code by name: adding a
jurisdiction in the ERP is enough for deals there to pass.

The codes and the items' categories are kept in Redis (`fig:erp:tax-codes`, JSON) for `ttl`
seconds; a retry reads the ERP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from process_apis.ports import ReferenceItem, ReferenceTaxCode

__all__ = ["TAX_CODES_KEY", "TaxCodeSource", "TaxCodes", "TaxReference", "candidates"]

TAX_CODES_KEY = "fig:erp:tax-codes"


def candidates(
    codes: Sequence[ReferenceTaxCode], *, legal_entity: str, jurisdiction: str, revenue_category: str | None
) -> list[ReferenceTaxCode]:
    """The codes of the first tier of the rule that has any: exactly one is a resolution."""
    scoped = [c for c in codes if c.legal_entity == legal_entity and jurisdiction in c.jurisdictions]
    specific = [c for c in scoped if revenue_category is not None and c.revenue_category == revenue_category]
    return specific or [c for c in scoped if c.revenue_category is None]


class TaxReference(msgspec.Struct, kw_only=True, frozen=True):
    """The ERP's tax codes and its items' revenue categories (item id -> category), read together."""

    codes: list[ReferenceTaxCode]
    categories: dict[str, str]

    def candidates(self, *, legal_entity: str, jurisdiction: str, item_id: str) -> list[ReferenceTaxCode]:
        return candidates(
            self.codes,
            legal_entity=legal_entity,
            jurisdiction=jurisdiction,
            revenue_category=self.categories.get(item_id),
        )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(TaxReference)


class TaxCodeSource(Protocol):
    async def tax_codes(self) -> list[ReferenceTaxCode]:
        """Every tax code of the ERP account (the ERP system API's reference list)."""
        ...

    async def items(self) -> list[ReferenceItem]:
        """Every sellable item of the ERP account, with its revenue category."""
        ...


class TaxCodes:
    """The ERP's tax codes and item categories, kept for `ttl` seconds (0: read every time)."""

    def __init__(self, redis: Any, erp: TaxCodeSource, *, ttl: float = 300.0) -> None:
        self.redis: Any = redis
        self.erp = erp
        self.ttl_ms = int(ttl * 1000)

    async def reference(self, *, fresh: bool = False) -> TaxReference:
        """The codes as last read; `fresh` reads the ERP (a person's retry after fixing them)."""
        if self.ttl_ms > 0 and not fresh:
            raw = await self.redis.get(TAX_CODES_KEY)
            if raw is not None:
                return _decoder.decode(raw)
        categories = {i.id: i.revenue_category for i in await self.erp.items() if i.revenue_category}
        found = TaxReference(codes=await self.erp.tax_codes(), categories=categories)
        if self.ttl_ms > 0:
            await self.redis.set(TAX_CODES_KEY, _encoder.encode(found), px=self.ttl_ms)
        return found
