"""The NetSuite connector: M2M auth, governed REST calls, SuiteQL paging and canonical mapping."""

from __future__ import annotations

from system_apis.erp.connector.auth import NetSuiteTokens, load_private_key
from system_apis.erp.connector.client import NetSuiteClient, SuiteQLPage

__all__ = ["NetSuiteClient", "NetSuiteTokens", "SuiteQLPage", "load_private_key"]
