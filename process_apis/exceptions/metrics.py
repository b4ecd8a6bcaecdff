"""The exception queue as metrics: how many exceptions are in each status, by reason, owner and entity.

`fig.exceptions` (gauge, sampled from the store every interval): every exception the queue holds,
by `fig.status` (open, retrying, resolved, dead_lettered), reason code, owner team and legal
entity. Opened = the sum over statuses, closed = `resolved`, still open = the other three. One
source of truth (the store), so every path that opens or settles an exception is counted alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from opentelemetry import metrics

from process_apis.exceptions.store import ExceptionStore

__all__ = ["ExceptionGauge"]

_gauge = metrics.get_meter("process_apis.exceptions").create_gauge(
    "fig.exceptions", unit="{exception}", description="Exceptions in the queue by status, reason, owner and entity."
)

_Key = tuple[str, str, str, str]


class ExceptionGauge:
    """Sets `fig.exceptions` from one read of the store (combinations that emptied go to zero)."""

    def __init__(self, redis: Any) -> None:
        self.store = ExceptionStore(redis)
        self.seen: set[_Key] = set()

    async def sample(self) -> None:
        counts: Counter[_Key] = Counter(
            (r.status, r.reason_code, r.owner_team, r.legal_entity or "-") for r in await self.store.all()
        )
        for key in self.seen - set(counts):
            counts[key] = 0
        for (status, reason, owner, entity), count in counts.items():
            _gauge.set(
                count,
                {"fig.status": status, "fig.reason": reason, "fig.owner": owner, "fig.legal_entity": entity},
            )
        self.seen = {key for key, count in counts.items() if count}
