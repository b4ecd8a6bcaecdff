"""Names of the Redis Streams that carry canonical events between layers.

Each name carries a hash tag (`{crm}`, `{erp}`, ...) so that a producer can write the stream and
its own bookkeeping keys tagged the same way (a feed's watermark) in one MULTI/EXEC, also on
Redis Cluster, where keys of one transaction must share a slot.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CRM_EVENTS", "ERP_EVENTS", "FINANCE_EVENTS", "PLANNING_EVENTS", "stream_tag"]

CRM_EVENTS: Final = "fig:events:{crm}"
ERP_EVENTS: Final = "fig:events:{erp}"
PLANNING_EVENTS: Final = "fig:events:{planning}"
FINANCE_EVENTS: Final = "fig:events:{finance}"


def stream_tag(stream: str) -> str:
    """The hash tag of a stream name, e.g. `{erp}`: prefix your own keys with it to share its slot."""
    start, end = stream.find("{"), stream.find("}")
    return stream[start : end + 1] if 0 <= start < end else ""
