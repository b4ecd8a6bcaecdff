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

from contracts import Opportunity, ProblemFieldError
from process_apis.controls import EntityMapping, MappingSet
from process_apis.errors import ValidationFailed
from process_apis.ports import ReferenceItem, ReferenceTaxCode

__all__ = ["TAX_CODES_KEY", "TaxCodeSource", "TaxCodes", "TaxReference", "candidates", "line_tax_codes"]

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


def line_tax_codes(
    reference: TaxReference, opportunity: Opportunity, entity: EntityMapping, mapping: MappingSet, jurisdiction: str
) -> list[ReferenceTaxCode] | None:
    """The tax code of each line of the deal, in line order; None when a line's product is not
    mapped (no item to tax: the `product_mapping` control refuses it, or is off). Raises
    `ValidationFailed` with one error per unresolved line (`$.lines[n].tax_code`)."""
    resolved: list[ReferenceTaxCode] = []
    violations: list[ProblemFieldError] = []
    for index, line in enumerate(opportunity.lines):
        product = mapping.product(line.product_code)
        if product is None:
            return None
        item = product.item_id
        found = reference.candidates(legal_entity=entity.legal_entity, jurisdiction=jurisdiction, item_id=item)
        if len(found) == 1:
            resolved.append(found[0])
            continue
        what = f"{len(found)} tax codes ({', '.join(c.code for c in found)}) apply" if found else "no tax code applies"
        category = reference.categories.get(item, "no revenue category")
        violations.append(
            ProblemFieldError(
                location=f"$.lines[{index}].tax_code",
                message=(
                    f"in the ERP, {what} to jurisdiction {jurisdiction!r} and item {item} ({line.product_code}, "
                    f"{category}) of {entity.legal_entity}: name the jurisdiction on exactly one "
                    f"{entity.legal_entity} tax code in NetSuite (custitem_fig_tax_jurisdictions), or correct the "
                    "account's tax jurisdiction in the CRM, then retry"
                ),
            )
        )
    if violations:
        raise ValidationFailed(
            f"{len(violations)} line(s) of opportunity {opportunity.id} have no ERP tax code; {violations[0].message}",
            errors=violations,
        )
    return resolved


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
