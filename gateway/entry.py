"""What the server runs: versioned HTTP paths go straight to the fast path, the rest to Litestar.

`FastPath` is installed as the Litestar app's `asgi_handler` (so in-process test clients exercise
it), but a request reaching it through `Litestar.__call__` still pays that wrapper's per-request
work (scope set-up and the `before_send` wrapping of `send`): about 8 % of the gateway worker at
peak (bench/gateway/profile.sh). This outer callable skips it for the proxied paths and hands
lifespan, health, readiness and schema requests to the app unchanged.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import State
from litestar.enums import ScopeType
from litestar.types import Receive, Scope, Send

from gateway.app import create_app
from gateway.fastpath import FastPath, versioned

__all__ = ["Entry", "create_entry"]


class Entry:
    """The raw ASGI entry around one gateway app."""

    def __init__(self, app: Litestar) -> None:
        if not isinstance(app.asgi_handler, FastPath):
            raise TypeError("the gateway app must have its FastPath installed")
        self.app = app
        self.fast = app.asgi_handler

    @property
    def state(self) -> State:
        """The app's state (settings, clients), as on any service's app."""
        return self.app.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and versioned(scope["path"]):
            scope["app"] = self.app
            scope.setdefault("state", {})
            await self.fast.enter(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_entry() -> Entry:
    """Factory for the server (`gateway.entry:create_entry`): `create_app()` behind the entry."""
    return Entry(create_app())
