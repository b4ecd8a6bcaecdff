"""The client's view of the quote-to-cash resources, per pinned API version (msgspec, decode-only).

Unknown fields are ignored, so a server adding a field (a non-breaking change) never breaks a
pinned client. Money amounts decode into Decimal (the wire carries decimal strings).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from contracts.money import Money
from contracts.problem import ProblemFieldError

__all__ = [
    "ErpReferences",
    "GateV1",
    "OrderLine",
    "PlanningOutcome",
    "QuoteToCashRunV1",
    "QuoteToCashRunV2",
    "RunError",
]


class GateV1(msgspec.Struct, kw_only=True, frozen=True):
    """One passed stage gate of a run."""

    gate: str
    at: datetime
    actor: str
    detail: str
    correlation_id: str | None = None
    idempotency_key: str | None = None


class PlanningOutcome(msgspec.Struct, kw_only=True, frozen=True):
    import_id: str
    task_id: str
    successful: bool
    rows_loaded: int
    rows_rejected: int


class RunError(msgspec.Struct, kw_only=True, frozen=True):
    type: str
    title: str
    status: int
    detail: str
    gate: str | None = None
    service: str | None = None
    errors: list[ProblemFieldError] | None = None


class QuoteToCashRunV1(msgspec.Struct, kw_only=True, frozen=True):
    """`/v1/quote-to-cash/runs/{id}` (deprecated: see the catalogue for its sunset)."""

    id: str
    opportunity_id: str
    state: str
    status: str
    mapping_version: str
    created_at: datetime
    updated_at: datetime
    workflow: str = "quote_to_cash"
    correlation_id: str | None = None
    legal_entity: str | None = None
    gates: list[GateV1] = msgspec.field(default_factory=list)
    erp_customer_id: str | None = None
    erp_order_id: str | None = None
    erp_order_external_id: str | None = None
    planning: PlanningOutcome | None = None
    error: RunError | None = None


class OrderLine(msgspec.Struct, kw_only=True, frozen=True):
    line_number: int
    product_code: str
    quantity: Decimal
    unit_price: Money
    amount: Money


class ErpReferences(msgspec.Struct, kw_only=True, frozen=True):
    customer_id: str | None = None
    sales_order_id: str | None = None
    sales_order_external_id: str | None = None


class QuoteToCashRunV2(msgspec.Struct, kw_only=True, frozen=True):
    """`/v2/quote-to-cash/runs/{id}`: the run with order lines, money per line and totals per currency."""

    id: str
    opportunity_id: str
    state: str
    status: str
    mapping_version: str
    created_at: datetime
    updated_at: datetime
    lines: list[OrderLine]
    totals: list[Money]
    gates: list[GateV1]
    erp: ErpReferences
    workflow: str = "quote_to_cash"
    legal_entity: str | None = None
    correlation_id: str | None = None
    planning: PlanningOutcome | None = None
    error: RunError | None = None
