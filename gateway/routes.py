"""The gateway's own routes: the proxy, mounted as raw ASGI under each public `/v{major}`.

Health and schema come from servicekit; everything under a version prefix goes through the
policy chain in `gateway.proxy.Gateway` (held on `app.state.gateway`, built in the lifespan).
"""

from __future__ import annotations

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from gateway.proxy import Gateway

__all__ = ["proxy_mount"]


def proxy_mount(path: str) -> ASGIRouteHandler:
    """A raw ASGI mount at `path` (e.g. `/v1`): no Litestar request parsing on the forwarding path."""

    # copy_scope=False: the proxy restores the full public path in the scope on purpose.
    @asgi(path=path, is_mount=True, copy_scope=False, name=f"proxy{path.replace('/', '_')}")
    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        gateway: Gateway = scope["app"].state.gateway
        await gateway.handle(scope, receive, send)

    return proxy
