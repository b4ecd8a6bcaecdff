"""Header names used on every hop (DESIGN.md section 6)."""

from __future__ import annotations

__all__ = [
    "CORRELATION_ID",
    "IDEMPOTENCY_KEY",
    "PROBLEM_JSON",
    "TRACEPARENT",
    "TRACESTATE",
]

CORRELATION_ID = "x-correlation-id"
IDEMPOTENCY_KEY = "idempotency-key"
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
PROBLEM_JSON = "application/problem+json"
