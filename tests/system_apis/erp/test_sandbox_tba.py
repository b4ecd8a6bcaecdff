"""NetSuite token-based authentication (OAuth 1.0a, HMAC-SHA256), signed by a real OAuth 1 client
(requests-oauthlib), beside OAuth 2.0; and what the sandbox does not emulate is refused, not ignored."""

from __future__ import annotations

import time
from typing import Any

import httpx
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256
from requests_oauthlib import OAuth1

from system_apis.erp.devkey import DEV_ACCOUNT_ID
from tests.system_apis.erp.conftest import bearer

RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
CONSUMER = ("fig-tba-consumer-key", "fig-tba-consumer-secret")
TOKEN = ("fig-tba-token-id", "fig-tba-token-secret")


def tba(
    *,
    realm: str = DEV_ACCOUNT_ID,
    token_secret: str = TOKEN[1],
    signature_method: str = SIGNATURE_HMAC_SHA256,
    **extra: Any,
) -> OAuth1:
    return OAuth1(
        CONSUMER[0],
        client_secret=CONSUMER[1],
        resource_owner_key=TOKEN[0],
        resource_owner_secret=token_secret,
        signature_method=signature_method,
        realm=realm,
        **extra,
    )


def session() -> requests.Session:
    plain = requests.Session()
    plain.trust_env = False
    return plain


def _error(response: Any) -> dict[str, Any]:
    detail: dict[str, Any] = response.json()["o:errorDetails"][0]
    return detail


def test_tba_signed_requests_read_write_and_query(sandbox: str) -> None:
    with session() as http:
        customer = http.get(f"{sandbox}{RECORDS}/customer/1001", auth=tba())
        assert customer.status_code == 200, customer.text
        assert customer.json()["id"] == "1001"
        expanded = http.get(f"{sandbox}{RECORDS}/salesOrder", params={"limit": 2, "offset": 1}, auth=tba())
        assert expanded.status_code == 200, expanded.text  # query parameters are part of the signature
        patched = http.patch(f"{sandbox}{RECORDS}/customer/1001", json={"email": "ap@tba.example"}, auth=tba())
        assert patched.status_code == 204, patched.text
        rows = http.post(
            f"{sandbox}{SUITEQL}",
            params={"limit": 5},
            json={"q": "SELECT id, email FROM customer WHERE id = '1001'"},
            headers={"Prefer": "transient"},
            auth=tba(),
        )
        assert rows.status_code == 200, rows.text
        assert rows.json()["items"][0]["email"] == "ap@tba.example"


def test_tba_refuses_a_wrong_secret_realm_method_or_a_replayed_nonce(sandbox: str) -> None:
    url = f"{sandbox}{RECORDS}/customer/1001"
    with session() as http:
        refused = [
            http.get(url, auth=tba(token_secret="not-the-secret")),
            http.get(url, auth=tba(realm="OTHER_ACCOUNT")),
            http.get(url, auth=tba(signature_method="HMAC-SHA1")),
        ]
        for response in refused:
            assert response.status_code == 401, response.text
            assert _error(response)["o:errorCode"] == "INVALID_LOGIN"
        signed = http.get(url, auth=tba(nonce="fixed-nonce", timestamp=str(int(time.time()))))
        assert signed.status_code == 200
        replay = requests.Request("GET", url, headers={"Authorization": signed.request.headers["Authorization"]})
        replayed = http.send(replay.prepare())
        assert replayed.status_code == 401
        stale = http.get(url, auth=tba(timestamp=str(int(time.time()) - 3600)))
        assert stale.status_code == 401


def test_the_signature_covers_the_url_the_client_called(sandbox: str) -> None:
    """A signature for one record does not open another (the path is in the base string)."""
    with session() as http:
        signed = http.get(f"{sandbox}{RECORDS}/customer/1001", auth=tba())
        assert signed.status_code == 200
        other = requests.Request(
            "GET",
            f"{sandbox}{RECORDS}/customer/1002",
            headers={"Authorization": signed.request.headers["Authorization"]},
        )
        assert http.send(other.prepare()).status_code == 401


def test_parameters_and_preferences_the_sandbox_does_not_emulate_are_refused(sandbox: str) -> None:
    headers = bearer(sandbox)
    filtered = httpx.get(f"{sandbox}{RECORDS}/customer", params={"q": "email START_WITH ap"}, headers=headers)
    assert filtered.status_code == 400
    assert (_error(filtered)["o:errorCode"], _error(filtered)["o:errorQueryParam"]) == ("INVALID_PARAMETER", "q")
    fields = httpx.get(f"{sandbox}{RECORDS}/customer/1001", params={"fields": "email"}, headers=headers)
    assert _error(fields)["o:errorQueryParam"] == "fields"
    body = {"email": "async@example.com"}
    for extra in ({"Prefer": "respond-async"}, {"X-NetSuite-Idempotency-Key": "k-1"}):
        answer = httpx.patch(f"{sandbox}{RECORDS}/customer/1001", json=body, headers={**headers, **extra})
        assert answer.status_code == 400, extra
        assert _error(answer)["o:errorCode"] == "INVALID_HEADER"
        assert _error(answer)["o:errorHeader"] in extra
    replace = httpx.patch(f"{sandbox}{RECORDS}/customer/1001", params={"replace": "item"}, json=body, headers=headers)
    assert _error(replace)["o:errorQueryParam"] == "replace"
    async_query = httpx.post(
        f"{sandbox}{SUITEQL}",
        json={"q": "SELECT id FROM customer"},
        headers={**headers, "Prefer": "transient, respond-async"},
    )
    assert _error(async_query)["o:errorHeader"] == "Prefer"
    assert httpx.get(f"{sandbox}{RECORDS}/customer/1001", headers=headers).json().get("email") != "async@example.com"


def test_sales_orders_take_department_location_class_and_custom_body_fields(sandbox: str) -> None:
    headers = bearer(sandbox)
    url = f"{sandbox}{RECORDS}/salesOrder"
    order = {
        "entity": {"id": "1001"},
        "item": {"items": [{"item": {"id": "101"}, "quantity": 1}]},
        "department": {"id": "2"},
        "location": {"id": "1"},
        "class": {"id": "1"},
        "custbody_fig_deal_desk": "approved",
        "custbody_fig_priority": 2,
        "custbody_fig_owner": {"id": "7"},
    }
    created = httpx.post(url, json=order, headers=headers)
    assert created.status_code == 204, created.text
    record = httpx.get(created.headers["location"], headers=headers).json()
    assert record["department"] == {"id": "2", "refName": "Professional Services"}
    assert (record["location"]["refName"], record["class"]["refName"]) == ("London", "Subscription")
    assert (record["custbody_fig_deal_desk"], record["custbody_fig_priority"]) == ("approved", 2)
    assert record["custbody_fig_owner"] == {"id": "7"}
    patched = httpx.patch(created.headers["location"], json={"location": {"id": "3"}}, headers=headers)
    assert patched.status_code == 204
    again = httpx.get(created.headers["location"], headers=headers).json()
    assert (again["location"]["refName"], again["department"]["id"]) == ("New York", "2")
    unknown = httpx.post(url, json={**order, "department": {"id": "99"}}, headers=headers)
    assert (unknown.status_code, _error(unknown)["o:errorPath"]) == (400, "department")
    bad_custom = httpx.post(url, json={**order, "custbody_fig_lines": [1, 2]}, headers=headers)
    assert (bad_custom.status_code, _error(bad_custom)["o:errorPath"]) == (400, "custbody_fig_lines")
    not_custom = httpx.post(url, json={**order, "custbodyX": 1}, headers=headers)
    assert not_custom.status_code == 400
