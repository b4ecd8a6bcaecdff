"""Operations metrics of the workflows, computed from stored state (`GET /v1/ops/summary`)."""

from __future__ import annotations

from process_apis.ops.summary import OpsSummary, summarise

__all__ = ["OpsSummary", "summarise"]
