"""Canonical finance model, events, problem shape and header names shared by every layer.

This package imports nothing else of the project (ARCHITECTURE.md).
"""

from __future__ import annotations

from contracts.events import (
    ACCOUNT_CHANGED,
    BOOKING_COMMITTED,
    CUSTOMER_CHANGED,
    OPPORTUNITY_APPROVED,
    PERIOD_CLOSED,
    SALES_ORDER_BOOKED,
    CloudEvent,
    new_event,
)
from contracts.model import (
    Account,
    ApprovalStatus,
    CommittedBooking,
    CommittedBookingsLoad,
    Customer,
    CustomerUpsert,
    EntityCode,
    LegalEntity,
    Opportunity,
    OpportunityLine,
    Period,
    PlanningImportResult,
    RejectedRow,
    SalesOrder,
    SalesOrderLine,
    SalesOrderStatus,
    SalesOrderUpsert,
)
from contracts.money import CurrencyCode, Money
from contracts.problem import PROBLEM_TYPE_BASE, Problem, ProblemFieldError, problem_type

__all__ = [
    "ACCOUNT_CHANGED",
    "BOOKING_COMMITTED",
    "CUSTOMER_CHANGED",
    "OPPORTUNITY_APPROVED",
    "PERIOD_CLOSED",
    "PROBLEM_TYPE_BASE",
    "SALES_ORDER_BOOKED",
    "Account",
    "ApprovalStatus",
    "CloudEvent",
    "CommittedBooking",
    "CommittedBookingsLoad",
    "CurrencyCode",
    "Customer",
    "CustomerUpsert",
    "EntityCode",
    "LegalEntity",
    "Money",
    "Opportunity",
    "OpportunityLine",
    "Period",
    "PlanningImportResult",
    "Problem",
    "ProblemFieldError",
    "RejectedRow",
    "SalesOrder",
    "SalesOrderLine",
    "SalesOrderStatus",
    "SalesOrderUpsert",
    "new_event",
    "problem_type",
]
