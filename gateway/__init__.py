"""The policy gateway and, in `gateway.idp`, the dev identity provider.

Request path: `routes.proxy_mount` (raw ASGI under each `/v{major}`) → `proxy.Gateway.handle`:
`routing.RouteTable` (404/405) → `policies` in order → `upstreams.Upstream` (shared httpx client,
`transport.ProxyTransport`) with `headers` allow-lists both ways. Refusals go to `audit.AuditLog`.
Configuration: `config` (TOML route table, embedded default `gateway.toml`) and `settings`.
"""

from __future__ import annotations

from gateway.app import create_app
from gateway.settings import GatewaySettings

__all__ = ["GatewaySettings", "create_app"]
