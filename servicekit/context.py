"""The request context that follows a call across hops: correlation id and W3C trace context."""

from __future__ import annotations

import os
from contextvars import ContextVar

from opentelemetry import propagate

from contracts.headers import CORRELATION_ID

__all__ = ["correlation_id", "current_correlation_id", "new_correlation_id", "outgoing_headers"]

correlation_id: ContextVar[str | None] = ContextVar("fig_correlation_id", default=None)


def new_correlation_id() -> str:
    """128 random bits as 32 hex digits (the shape of `uuid4().hex`, without building a UUID)."""
    return os.urandom(16).hex()


def current_correlation_id() -> str | None:
    return correlation_id.get()


def outgoing_headers() -> dict[str, str]:
    """Headers that carry the current correlation id and trace context to the next hop."""
    headers: dict[str, str] = {}
    cid = correlation_id.get()
    if cid:
        headers[CORRELATION_ID] = cid
    propagate.inject(headers)
    return headers
