"""Helpers of the CRM tests: the sandbox's dev credentials and a driver for its admin API."""

from __future__ import annotations

from typing import Any

import httpx

from system_apis.crm import CrmSettings
from tests.tokens import TestIssuer

__all__ = ["BATCH", "CLIENT_ID", "CLIENT_SECRET", "SandboxAdmin", "crm_settings", "sf_update", "token_for"]

CLIENT_ID = "fig-crm-connected-app"
CLIENT_SECRET = "fig-crm-dev-secret"
#: Small pages, so that every query over the seed (202 opportunities) spans several pages.
BATCH = 25


class SandboxAdmin:
    """Drives the sandbox's `/__admin/` API."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _post(self, path: str, body: Any = None) -> dict[str, Any]:
        response = httpx.post(self.base + "/__admin" + path, json=body)
        assert response.status_code < 300, response.text
        result: dict[str, Any] = response.json()
        return result

    def reset(self) -> None:
        self._post("/reset")

    def fault(self, kind: str, path: str = "/services/data/*", **spec: Any) -> None:
        self._post("/faults", {"kind": kind, "path": path, **spec})

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = httpx.get(self.base + "/__admin/faults").json()["faults"]
        return faults

    def close_won(self, opportunity_id: str) -> dict[str, Any]:
        return self._post(f"/opportunities/{opportunity_id}/close-won")

    def close_won_many(self, opportunity_ids: list[str]) -> int:
        return int(self._post("/opportunities/close-won", {"ids": opportunity_ids})["updated"])

    def usage(self, **body: int) -> str:
        return str(self._post("/limits", body)["api_usage"])

    def api_calls(self) -> int:
        """Salesforce API calls made so far (`api-usage=N/limit`): a poller's heartbeat, one per query."""
        usage = str(httpx.get(self.base + "/__admin/health").json()["api_usage"])
        return int(usage.partition("=")[2].partition("/")[0])


def sf_update(base: str, bearer: dict[str, str], sobject: str, record_id: str, fields: dict[str, Any]) -> None:
    """Change a record as a Salesforce user would (vendor REST API, 204)."""
    response = httpx.patch(f"{base}/services/data/v62.0/sobjects/{sobject}/{record_id}", headers=bearer, json=fields)
    assert response.status_code == 204, response.text


def token_for(base: str) -> str:
    response = httpx.post(
        base + "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def crm_settings(redis_url: str, sandbox: str, issuer: tuple[TestIssuer, str], **extra: Any) -> CrmSettings:
    """CRM system API settings against `sandbox`, verifying tokens of `issuer`, feed off unless asked."""
    values: dict[str, Any] = {"feed_interval": 0, **extra}
    return CrmSettings(
        redis_url=redis_url, sandbox_url=sandbox, idp_url=issuer[1], token_issuer=issuer[0].issuer, **values
    )
