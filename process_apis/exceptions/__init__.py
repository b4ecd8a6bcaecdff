"""The exception queue: owned, SLA-bound exceptions of workflow runs, with an append-only history."""

from __future__ import annotations

from process_apis.exceptions.model import ExceptionAction, ExceptionPage, ExceptionRecord, exception_id
from process_apis.exceptions.policy import ExceptionPolicy, ReasonPolicy, load_policy
from process_apis.exceptions.store import EXCEPTION_INDEX, ExceptionFilter, ExceptionStore

__all__ = [
    "EXCEPTION_INDEX",
    "ExceptionAction",
    "ExceptionFilter",
    "ExceptionPage",
    "ExceptionPolicy",
    "ExceptionRecord",
    "ExceptionStore",
    "ReasonPolicy",
    "exception_id",
    "load_policy",
]
