"""A local NetSuite (SuiteTalk REST) emulator: M2M token grant, records, SuiteQL, governance, faults.

Vendor surface (under `/services/rest`, NetSuite's error envelope):
  POST auth/oauth2/v1/token                   client credentials + signed client assertion
  GET|POST record/v1/{customer|salesOrder}    collection (limit/offset) | create → 204 + Location
  GET|PUT|PATCH record/v1/{type}/{id|eid:x}   read (`?expandSubResources=true`) | upsert | update
  GET record/v1/{subsidiary|currency|serviceSaleItem|accountingPeriod|salesTaxItem}[/{id}]   read-only
  POST query/v1/suiteql                       `Prefer: transient`, limit/offset (tables: tables.py)

Test controls under `/__admin` (not NetSuite): `POST reset`, `GET info`, `GET stats`,
`POST sales-orders/{id}/approve`, `POST sales-orders/generate` ({count, subsidiary_id, item_id}),
`GET sales-orders?externalId=`, `POST periods/{sub}/{period}/close`, `POST postings`,
`POST faults` ({match, kind, count, latency_ms, status}), `DELETE faults`, `POST tokens/revoke`,
`POST certificates` ({kid, client_id, public_key_pem}). See system_apis/erp/README.md.

Run with one worker: the account lives in the process (persisted to `FIG_DATA_DIR` when set).
"""

from __future__ import annotations

from system_apis.erp.sandbox.app import create_app
from system_apis.erp.sandbox.settings import SandboxSettings

__all__ = ["SandboxSettings", "create_app"]
