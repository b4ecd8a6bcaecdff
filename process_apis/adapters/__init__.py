"""httpx adapters implementing the ports against the system APIs, and the clients they share."""

from __future__ import annotations

from process_apis.adapters._http import SystemApi
from process_apis.adapters.clients import SERVICE_SCOPES, SystemClients, open_system_clients
from process_apis.adapters.crm import HttpCrm
from process_apis.adapters.erp import HttpErp
from process_apis.adapters.planning import HttpPlanning

__all__ = ["SERVICE_SCOPES", "HttpCrm", "HttpErp", "HttpPlanning", "SystemApi", "SystemClients", "open_system_clients"]
