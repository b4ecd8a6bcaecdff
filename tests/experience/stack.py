"""The running stack for the console's browser tests, and the data the tests look at.

One stack per module (exactly what `fig up` runs, the console included). Two defective deals are
approved in the Salesforce sandbox, one of DE01 (a DACH deal switched to USD) and one of US01 (an NA
deal switched to GBP), currencies their entities do not book, so each entity has one open
`unsupported_currency` exception. The console reaches them only through the gateway.
"""

from __future__ import annotations

from typing import Any

import httpx

from deploy.demo import DEMO_OPPORTUNITY, fetch_token
from deploy.stack import Stack
from tests.e2e.test_workflows_stack import Salesforce, wait_until

__all__ = ["Salesforce", "Seeded", "seed_exceptions", "wait_until"]


class Seeded:
    """What the tests look for: the two deals and their exceptions, and an API client (all entities)."""

    def __init__(self, api: httpx.Client, sf: Salesforce, deals: dict[str, dict[str, Any]]) -> None:
        self.api = api
        self.sf = sf
        self.deals = deals
        self.exceptions: dict[str, dict[str, Any]] = {}

    def exception_of(self, entity: str) -> dict[str, Any]:
        return self.exceptions[entity]


def _candidates(crm_url: str, token: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=crm_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        page = client.get("/v1/opportunities", params={"won": "false", "limit": "200"})
        assert page.status_code == 200, page.text
        return [o for o in page.json()["items"] if o["lines"] and o["id"] != DEMO_OPPORTUNITY]


def seed_exceptions(stack: Stack) -> Seeded:
    """Approve one DE01 and one US01 deal with a currency their entity does not book; wait for the
    two open exceptions."""
    idp, creds = stack.url("idp"), stack.credentials
    system = fetch_token(idp, "process-api", creds.client_secret("process-api"), scope="crm:read")
    pool = _candidates(stack.url("crm"), system)
    dach = next(o for o in pool if o["region"] == "DACH")
    na = next(o for o in pool if o["region"] == "NA")
    sf = Salesforce(stack.url("salesforce-sandbox"))
    sf.patch("Opportunity", dach["id"], {"CurrencyIsoCode": "USD"})
    sf.patch("Opportunity", na["id"], {"CurrencyIsoCode": "GBP"})
    sf.close_won([dach["id"], na["id"]])
    demo = fetch_token(idp, "demo", creds.client_secret("demo"))
    api = httpx.Client(base_url=stack.url("gateway"), headers={"Authorization": f"Bearer {demo}"}, timeout=30)
    seeded = Seeded(api, sf, {"DE01": dach, "US01": na})

    def parked() -> bool:
        items = api.get("/v1/exceptions", params={"status": "open"}).json()["items"]
        for entity, deal in seeded.deals.items():
            for item in items:
                if item["run_id"] == f"q2c-{deal['id']}":
                    seeded.exceptions[entity] = item
        return len(seeded.exceptions) == 2

    wait_until(parked, 60, "both defective deals parked as exceptions")
    return seeded
