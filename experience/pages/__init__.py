"""The console's pages: one module per page, each a few handlers rendering one template."""

from __future__ import annotations

from experience.pages.audit import audit_page
from experience.pages.controls import controls_page, decide_proposal, propose_region_change
from experience.pages.exceptions import bulk_retry, exception_action, exception_page, exceptions_page
from experience.pages.overview import overview_page
from experience.pages.reports import reports_page, start_reconciliation
from experience.pages.runs import run_page, runs_page

__all__ = [
    "audit_page",
    "bulk_retry",
    "controls_page",
    "decide_proposal",
    "exception_action",
    "exception_page",
    "exceptions_page",
    "overview_page",
    "propose_region_change",
    "reports_page",
    "run_page",
    "runs_page",
    "start_reconciliation",
]
