"""The ERP system API (NetSuite): canonical customers and sales orders, and the booked-order feed."""

from __future__ import annotations

from system_apis.erp.app import create_app
from system_apis.erp.settings import ErpSettings

__all__ = ["ErpSettings", "create_app"]
