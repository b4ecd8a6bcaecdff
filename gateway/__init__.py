"""The policy gateway and, in `gateway.idp`, the dev identity provider.

Request path: `fastpath.FastPath` (the app's ASGI handler; `/v{major}/...` skip Litestar's router)
→ `proxy.Gateway.handle`: `catalogue.RouteTable` (404/405; operations from the OpenAPI documents)
→ `policies` in order → `upstreams.Upstream` (shared aiohttp session, retries, breaker) with
`headers` allow-lists both ways. Refusals go to `audit.AuditLog`. Configuration: `config` (TOML, embedded default
`gateway.toml`), compiled into a `runtime.Runtime` and reloaded by `runtime.ConfigReloader`.
"""

from __future__ import annotations

from gateway.app import create_app
from gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
