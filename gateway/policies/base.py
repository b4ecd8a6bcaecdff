"""What a policy is."""

from __future__ import annotations

from typing import Protocol

from gateway.exchange import Exchange

__all__ = ["Policy"]


class Policy(Protocol):
    """One step of the chain: return to pass, raise a ProblemError to refuse."""

    async def apply(self, exchange: Exchange) -> None: ...
