"""The CRM system API: Salesforce behind the canonical model, with its connector and sandbox."""

from __future__ import annotations

from system_apis.crm.app import create_app
from system_apis.crm.settings import CrmSettings

__all__ = ["CrmSettings", "create_app"]
