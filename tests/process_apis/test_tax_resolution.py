"""The tax-code rule: the run's entity, the codes naming the jurisdiction, the item's category first."""

from __future__ import annotations

from decimal import Decimal

import pytest

from process_apis.controls import load_mapping_set
from process_apis.errors import ValidationFailed
from process_apis.ports import ReferenceItem, ReferenceTaxCode
from process_apis.workflows.taxes import TaxCodes, TaxReference, candidates, line_tax_codes
from servicekit import RedisClient
from tests.process_apis.fakes import opportunity


def _code(code_id: str, entity: str, *jurisdictions: str, category: str | None = None) -> ReferenceTaxCode:
    return ReferenceTaxCode(
        id=code_id,
        code=f"CODE-{code_id}",
        rate=Decimal("1.00"),
        legal_entity=entity,
        jurisdictions=list(jurisdictions),
        revenue_category=category,
    )


CODES = [
    _code("12", "US01", "US-NY"),
    _code("16", "US01", "US-NY", category="services"),
    _code("13", "US01", "US-IL"),
    _code("21", "DE01", "DE"),
    _code("22", "DE01"),  # a reduced rate no jurisdiction defaults to
]


def _ids(entity: str, jurisdiction: str, category: str | None) -> list[str]:
    found = candidates(CODES, legal_entity=entity, jurisdiction=jurisdiction, revenue_category=category)
    return [c.id for c in found]


def test_the_code_of_the_item_category_wins_over_the_one_for_every_category() -> None:
    assert _ids("US01", "US-NY", "services") == ["16"]
    assert _ids("US01", "US-NY", "subscription") == ["12"]
    assert _ids("US01", "US-IL", "services") == ["13"]
    assert _ids("DE01", "DE", "support") == ["21"]


def test_a_jurisdiction_no_code_of_the_entity_names_resolves_to_nothing() -> None:
    assert _ids("US01", "US-OR", "subscription") == []
    assert _ids("US01", "DE", "subscription") == []  # DE's code belongs to another subsidiary
    assert _ids("GB01", "GB", None) == []


def test_two_codes_for_one_combination_are_both_returned_so_the_run_parks() -> None:
    twice = [*CODES, _code("17", "US01", "US-IL")]
    found = candidates(twice, legal_entity="US01", jurisdiction="US-IL", revenue_category="support")
    assert [c.id for c in found] == ["13", "17"]


class _Erp:
    def __init__(self) -> None:
        self.codes = [CODES[0]]
        self.reads = 0

    async def tax_codes(self) -> list[ReferenceTaxCode]:
        self.reads += 1
        return list(self.codes)

    async def items(self) -> list[ReferenceItem]:
        return [
            ReferenceItem(id="101", product_code="FIG-PLAT", revenue_category="subscription"),
            ReferenceItem(id="103", product_code="FIG-SERV", revenue_category="services"),
        ]


async def test_the_item_category_is_the_erp_items_and_codes_are_kept_until_a_retry(redis: RedisClient) -> None:
    erp = _Erp()
    taxes = TaxCodes(redis, erp, ttl=60)
    first = await taxes.reference()
    assert first.codes == [CODES[0]]
    erp.codes = CODES
    kept = await taxes.reference()
    assert kept.codes == [CODES[0]]
    assert erp.reads == 1
    fresh = await taxes.reference(fresh=True)  # a person fixed the ERP and retries
    assert erp.reads == 2
    ny = {"legal_entity": "US01", "jurisdiction": "US-NY"}
    assert [c.id for c in fresh.candidates(**ny, item_id="103")] == ["16"]
    assert [c.id for c in fresh.candidates(**ny, item_id="101")] == ["12"]
    assert [c.id for c in (await taxes.reference()).candidates(**ny, item_id="103")] == ["16"]


def test_every_unresolved_line_is_named_with_what_to_fix() -> None:
    mapping = load_mapping_set("default-v1")
    entity = mapping.entity_for("NA")
    assert entity is not None
    deal = opportunity(region="NA", currency="USD", lines=(("FIG-PLAT", "1", "10.00"), ("FIG-SERV", "1", "10.00")))
    reference = TaxReference(codes=CODES, categories={"101": "subscription", "103": "services"})
    assert [c.id for c in line_tax_codes(reference, deal, entity, mapping, "US-NY") or []] == ["12", "16"]
    with pytest.raises(ValidationFailed) as refused:
        line_tax_codes(reference, deal, entity, mapping, "US-OR")
    errors = refused.value.errors or []
    assert [e.location for e in errors] == ["$.lines[0].tax_code", "$.lines[1].tax_code"]
    assert errors[1].message.startswith(
        "in the ERP, no tax code applies to jurisdiction 'US-OR' and item 103 (FIG-SERV, services) of US01: "
        "name the jurisdiction on exactly one US01 tax code in NetSuite"
    )
