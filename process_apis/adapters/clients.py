"""The long-lived httpx clients to the three system APIs, sharing one service token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from process_apis.adapters._http import SystemApi
from process_apis.adapters.crm import HttpCrm
from process_apis.adapters.erp import HttpErp
from process_apis.adapters.planning import HttpPlanning
from process_apis.settings import ProcessSettings
from servicekit import ClientCredentialsAuth, SettingsError, create_http_client

__all__ = ["SERVICE_SCOPES", "SystemClients", "open_system_clients"]

#: What the process API asks the identity provider for: the least the workflows need.
SERVICE_SCOPES = "crm:read crm:write erp:read erp:write planning:read planning:write"


@dataclass(frozen=True, kw_only=True)
class SystemClients:
    """The adapters plus the raw clients (readiness probes use the raw ones, without a token)."""

    crm: HttpCrm
    erp: HttpErp
    planning: HttpPlanning
    http: dict[str, httpx.AsyncClient]


@asynccontextmanager
async def open_system_clients(
    settings: ProcessSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> AsyncIterator[SystemClients]:
    """Open one client per system API for the process's lifetime; close them all on exit."""
    if not settings.client_secret:
        raise SettingsError(
            f"FIG_CLIENT_SECRET is required: the secret of client {settings.client_id!r} at the identity provider "
            "(`fig up` generates a dev one)"
        )
    async with httpx.AsyncClient(timeout=5.0, transport=transport) as token_http:
        auth = ClientCredentialsAuth(
            settings.token_url, settings.client_id, settings.client_secret, SERVICE_SCOPES, http=token_http
        )
        urls = {"crm": settings.crm_url, "erp": settings.erp_url, "planning": settings.planning_url}
        clients = {
            name: create_http_client(
                url,
                timeout=settings.http_timeout,
                retries=settings.http_retries,
                auth=auth,
                transport=transport,
            )
            for name, url in urls.items()
        }
        try:
            yield SystemClients(
                crm=HttpCrm(SystemApi(clients["crm"], "crm")),
                erp=HttpErp(SystemApi(clients["erp"], "erp")),
                planning=HttpPlanning(SystemApi(clients["planning"], "planning")),
                http=clients,
            )
        finally:
            for client in clients.values():
                await client.aclose()
