"""The finance workflows as explicit state machines (quote-to-cash for now) and their run store."""

from __future__ import annotations

from process_apis.workflows.amendments import Amendment
from process_apis.workflows.outage import OutagePolicy
from process_apis.workflows.quote_to_cash import BookingSignal, FailureHook, QuoteToCash
from process_apis.workflows.retry import RetryPolicy, with_retries
from process_apis.workflows.store import WAITING_INDEX, WORK_STREAM, LockLost, RunBusy, RunSource, RunStore, run_id_for

__all__ = [
    "WAITING_INDEX",
    "WORK_STREAM",
    "Amendment",
    "BookingSignal",
    "FailureHook",
    "LockLost",
    "OutagePolicy",
    "QuoteToCash",
    "RetryPolicy",
    "RunBusy",
    "RunSource",
    "RunStore",
    "run_id_for",
    "with_retries",
]
