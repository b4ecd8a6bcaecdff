"""Audit evidence in the process API: `record` each decision, `GET /v1/audit` to read it back."""

from __future__ import annotations

from process_apis.audit.recorder import record, record_observed
from process_apis.audit.routes import AuditPage, audit_router

__all__ = ["AuditPage", "audit_router", "record", "record_observed"]
