"""A local Salesforce org: the REST wire subset the CRM connector uses, with admin and fault injection."""

from __future__ import annotations

from system_apis.crm.sandbox.app import create_app
from system_apis.crm.sandbox.settings import SalesforceSandboxSettings

__all__ = ["SalesforceSandboxSettings", "create_app"]
