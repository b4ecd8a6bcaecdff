"""Sessions (access tokens) with the org's timeout, and the daily API request allocation."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

__all__ = ["ApiUsage", "Sessions"]


class Sessions:
    """Issued access tokens; a token is valid until `timeout` seconds after issue or `expire_all()`."""

    def __init__(self, org_id: str, timeout: float, clock: Callable[[], float] = time.time) -> None:
        self.org_id = org_id
        self.timeout = timeout
        self.clock = clock
        self._issued: dict[str, float] = {}

    def issue(self) -> tuple[str, float]:
        """A new token (`<org id>!<random>`, the shape Salesforce uses) and its issue time (epoch s)."""
        token = f"{self.org_id}!{secrets.token_urlsafe(48)}"
        issued = self.clock()
        self._issued[token] = issued
        return token, issued

    def valid(self, token: str) -> bool:
        issued = self._issued.get(token)
        if issued is None:
            return False
        if self.clock() - issued >= self.timeout:
            del self._issued[token]
            return False
        return True

    def expire_all(self) -> int:
        count = len(self._issued)
        self._issued.clear()
        return count


class ApiUsage:
    """Counts REST calls against the daily allocation; the count restarts each UTC day."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._day = datetime.now(UTC).date()
        self._next_day = _next_midnight(self._day)

    def _roll(self) -> None:
        # One float comparison per call; the date only when a UTC midnight has passed.
        if time.time() >= self._next_day:
            today = datetime.now(UTC).date()
            if today != self._day:
                self._day, self.used = today, 0
            self._next_day = _next_midnight(today)

    def consume(self) -> bool:
        """Count one call; False (and no count) once the allocation is exhausted."""
        self._roll()
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def header(self) -> str:
        """The `Sforce-Limit-Info` value."""
        return f"api-usage={self.used}/{self.limit}"


def _next_midnight(day: date) -> float:
    """The epoch second at which the UTC day after `day` starts."""
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC).timestamp()
