"""What a policy is."""

from __future__ import annotations

from typing import Protocol

from gateway.exchange import Exchange

__all__ = ["Policy"]


class Policy(Protocol):
    """One step of the chain: return to pass, raise a ProblemError to refuse.

    A policy whose class sets `before_routing = True` needs no route: it also runs for a request
    whose path or method matches no operation, before that 404/405 is given (so an anonymous
    caller learns nothing about which routes exist).
    """

    async def apply(self, exchange: Exchange) -> None: ...
