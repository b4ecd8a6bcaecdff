"""The workflows beside quote-to-cash: customer master sync, actuals to plan, reconciliation."""

from __future__ import annotations

from process_apis.flows.model import FlowGate, FlowRun
from process_apis.flows.reconciliation import Break, ReconciliationReport, StartReconciliation
from process_apis.flows.runner import FlowRunner, Skip
from process_apis.flows.service import Flows

__all__ = [
    "Break",
    "FlowGate",
    "FlowRun",
    "FlowRunner",
    "Flows",
    "ReconciliationReport",
    "Skip",
    "StartReconciliation",
]
