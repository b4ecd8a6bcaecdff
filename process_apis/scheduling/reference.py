"""Scheduled sync of the ERP's low-volatility reference data, validated against the mapping set.

    received -> fetched -> validated -> stored -> completed        (failed)

Subsidiaries, currencies, items and tax codes change rarely; they are read on a schedule rather
than per deal. A sync is a flow run (`ref-erp-<n>`, `GET /v1/workflow-runs/{id}`); the data is
checked against the active mapping set before it is kept:

- every mapped legal entity is an ERP subsidiary with the mapped subsidiary id;
- every currency an entity may sell in is an ERP currency;
- every mapped product's item exists in the ERP with that product code;
- every mapped legal entity has at least one tax code.

A failed check parks the run with a `reference_data_invalid` exception (finance master data) and
keeps the last valid snapshot; the next scheduled sync retries that run, so one problem stays one
exception, settled when a sync passes. Valid data is stored as `fig:ref:erp:<kind>` (JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from contracts import LegalEntity, ProblemFieldError
from process_apis.controls import ControlSource
from process_apis.errors import ValidationFailed
from process_apis.flows.model import FlowRun
from process_apis.flows.runner import StepResult
from process_apis.ports import ErpReferencePort, ReferenceCurrency, ReferenceItem, ReferenceTaxCode

__all__ = ["REFERENCE_KINDS", "ReferenceSnapshot", "ReferenceSync", "reference_key"]

REFERENCE_KINDS = ("subsidiaries", "currencies", "items", "tax_codes")
_encoder = msgspec.json.Encoder()


def reference_key(kind: str) -> str:
    return f"fig:ref:erp:{kind}"


class ReferenceSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    """The ERP reference data as last validated, and when it was read."""

    fetched_at: datetime
    subsidiaries: list[LegalEntity]
    currencies: list[ReferenceCurrency]
    items: list[ReferenceItem]
    tax_codes: list[ReferenceTaxCode]


class ReferenceSync:
    """The flow machine of one reference-data sync."""

    workflow: str = "reference_sync"
    gates: tuple[str, ...] = ("fetched", "validated", "stored")

    def __init__(self, *, erp: ErpReferencePort, controls: ControlSource, redis: Any, clock: Any) -> None:
        self.erp = erp
        self.controls = controls
        self.redis: Any = redis
        self.clock = clock

    async def step(self, run: FlowRun, gate: str, scratch: dict[str, Any]) -> StepResult:
        if "snapshot" not in scratch:
            scratch["snapshot"] = ReferenceSnapshot(
                fetched_at=self.clock(),
                subsidiaries=await self.erp.subsidiaries(),
                currencies=await self.erp.currencies(),
                items=await self.erp.items(),
                tax_codes=await self.erp.tax_codes(),
            )
        snapshot: ReferenceSnapshot = scratch["snapshot"]
        if gate == "fetched":
            counts = {kind: len(getattr(snapshot, kind)) for kind in REFERENCE_KINDS}
            return StepResult(detail=", ".join(f"{n} {kind}" for kind, n in counts.items()), result=counts)
        if gate == "validated":
            mapping, _ = await self.controls.current()
            errors = _violations(snapshot, mapping)
            if errors:
                raise ValidationFailed(
                    f"the ERP's reference data does not match mapping set {mapping.version}: "
                    + "; ".join(e.message for e in errors),
                    slug="reference-data-invalid",
                    title="Reference data invalid",
                    errors=errors,
                )
            return StepResult(detail=f"consistent with mapping set {mapping.version}")
        pipe = self.redis.pipeline(transaction=False)
        for kind in REFERENCE_KINDS:
            pipe.set(reference_key(kind), _encoder.encode(getattr(snapshot, kind)))
        pipe.set(reference_key("fetched_at"), snapshot.fetched_at.isoformat())
        await pipe.execute()
        return StepResult(detail="reference data stored")


def _violations(snapshot: ReferenceSnapshot, mapping: Any) -> list[ProblemFieldError]:
    errors: list[ProblemFieldError] = []
    subsidiaries = {s.code: s for s in snapshot.subsidiaries}
    currencies = {c.code for c in snapshot.currencies}
    items = {i.id: i for i in snapshot.items}
    taxed = {t.legal_entity for t in snapshot.tax_codes}
    for region, entity in sorted(mapping.regions.items()):
        found = subsidiaries.get(entity.legal_entity)
        if found is None:
            errors.append(_error(f"regions.{region}", f"legal entity {entity.legal_entity} is no ERP subsidiary"))
        elif found.erp_subsidiary_id != entity.subsidiary_id:
            errors.append(
                _error(
                    f"regions.{region}.subsidiary_id",
                    f"{entity.legal_entity} is ERP subsidiary {found.erp_subsidiary_id}, "
                    f"mapped as {entity.subsidiary_id}",
                )
            )
        for currency in entity.currencies:
            if currency not in currencies:
                errors.append(_error(f"regions.{region}.currencies", f"currency {currency} is not in the ERP"))
        if entity.legal_entity not in taxed:
            errors.append(_error(f"regions.{region}", f"{entity.legal_entity} has no tax code in the ERP"))
    for code, product in sorted(mapping.products.items()):
        item = items.get(product.item_id)
        if item is None:
            errors.append(_error(f"products.{code}.item_id", f"ERP item {product.item_id} ({code}) does not exist"))
        elif item.product_code != code:
            errors.append(
                _error(f"products.{code}.item_id", f"ERP item {product.item_id} is {item.product_code}, not {code}")
            )
    return errors


def _error(location: str, message: str) -> ProblemFieldError:
    return ProblemFieldError(location=f"$.{location}", message=message)
