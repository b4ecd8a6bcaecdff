"""Product lines roll up into their opportunity's Amount, as in Salesforce, and move its SystemModstamp."""

from __future__ import annotations

from typing import Any

import httpx

DEMO1, LINE = "0068d00000DEMO1AAA", "00k8d00000DEMO1AAA"


def _patch(base: str, bearer: dict[str, str], path: str, body: bytes) -> httpx.Response:
    headers = {**bearer, "Content-Type": "application/json"}
    return httpx.patch(f"{base}/services/data/v62.0/sobjects/{path}", headers=headers, content=body)


def _get(base: str, bearer: dict[str, str], path: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/services/data/v62.0/sobjects/{path}", headers=bearer)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_line_price_change_rolls_up_into_the_opportunity_amount(sandbox: str, bearer: dict[str, str]) -> None:
    before = _get(sandbox, bearer, f"Opportunity/{DEMO1}")
    assert before["Amount"] == 14400.00  # 10 x 1,200.00 + 1 x 2,400.00
    response = _patch(sandbox, bearer, f"OpportunityLineItem/{LINE}", b'{"UnitPrice": 1760.00}')
    assert response.status_code == 204, response.text
    line = _get(sandbox, bearer, f"OpportunityLineItem/{LINE}")
    assert (line["UnitPrice"], line["TotalPrice"]) == (1760.00, 17600.00)
    after = _get(sandbox, bearer, f"Opportunity/{DEMO1}")
    assert after["Amount"] == 20000.00
    assert after["SystemModstamp"] > before["SystemModstamp"]


def test_a_line_takes_a_unit_price_or_a_total_price_not_both(sandbox: str, bearer: dict[str, str]) -> None:
    response = _patch(sandbox, bearer, f"OpportunityLineItem/{LINE}", b'{"UnitPrice": 1.00, "TotalPrice": 10.00}')
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert _get(sandbox, bearer, f"Opportunity/{DEMO1}")["Amount"] == 14400.00
