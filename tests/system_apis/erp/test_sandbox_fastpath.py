"""The fast path answers the hot vendor calls with the same bytes as the Litestar routes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from system_apis.erp.sandbox import SandboxSettings, create_app
from system_apis.erp.sandbox.app import SandboxApp
from tests.support import running_server
from tests.system_apis.erp.conftest import bearer

RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
_TIMES = re.compile(rb'"(dateCreated|lastModifiedDate|datecreated|lastmodifieddate)":"[^"]*"')
_PORT = re.compile(rb"127\.0\.0\.1:\d+")

ORDER = {
    "entity": {"id": "1001"},
    "subsidiary": {"id": "1"},
    "tranDate": "2026-11-30",
    "item": {"items": [{"item": {"id": "101"}, "quantity": 10, "rate": 1200.00, "amount": 12000.00}]},
}
#: (method, path, query, json body, extra headers): hot calls and their edge forms and refusals.
CALLS: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("GET", f"{RECORDS}/customer/1001", "", None, {}),
    ("GET", f"{RECORDS}/customer/1001/", "", None, {}),
    ("GET", f"{RECORDS}/customer/eid:SF-NONE", "", None, {}),
    ("GET", f"{RECORDS}/subsidiary/2", "", None, {}),
    ("GET", f"{RECORDS}/nothing/1", "", None, {}),
    ("GET", f"{RECORDS}/customer", "limit=2", None, {}),
    ("PUT", f"{RECORDS}/salesOrder/eid:SF-FAST1", "", ORDER, {}),
    ("PUT", f"{RECORDS}/salesOrder/eid:SF-FAST1", "", {**ORDER, "memo": "again"}, {}),
    ("GET", f"{RECORDS}/salesOrder/eid:SF-FAST1", "expandSubResources=true", None, {}),
    ("GET", f"{RECORDS}/salesOrder/eid:SF-FAST1", "expandSubResources=false", None, {}),
    ("GET", f"{RECORDS}/salesOrder/eid:SF-FAST1", "expandSubResources=maybe", None, {}),
    ("PUT", f"{RECORDS}/salesOrder/1", "", ORDER, {}),
    ("PUT", f"{RECORDS}/subsidiary/eid:X", "", {}, {}),
    ("PUT", f"{RECORDS}/salesOrder/eid:SF-BAD", "", {**ORDER, "entity": {"id": "999999"}}, {}),
    ("POST", f"{RECORDS}/customer", "", {"companyName": "Fast Co", "subsidiary": {"id": "3"}}, {}),
    ("PATCH", f"{RECORDS}/customer/1001", "", {"email": "ap@fast.example"}, {}),
    ("PATCH", f"{RECORDS}/customer/1001", "", {"unknownField": 1}, {}),
    ("PATCH", f"{RECORDS}/customer/424242", "", {"email": "x@y.z"}, {}),
    ("DELETE", f"{RECORDS}/customer/1001", "", None, {}),
    ("POST", SUITEQL, "limit=2&offset=1", {"q": "SELECT id, externalid FROM customer ORDER BY id"}, {}),
    ("POST", SUITEQL, "", {"q": "SELECT id FROM transaction WHERE externalid = 'SF-FAST1'"}, {}),
    ("POST", SUITEQL, "limit=0", {"q": "SELECT id FROM customer"}, {}),
    ("POST", SUITEQL, "limit=5", {"q": "SELECT id FROM customer"}, {"Prefer": "respond-async"}),
    ("POST", SUITEQL, "limit=5", {"q": "DELETE FROM customer"}, {}),
    ("POST", SUITEQL, "limit=x", {"q": "SELECT id FROM customer"}, {}),
]


@pytest.fixture(scope="module")
def both() -> Iterator[tuple[str, str]]:
    with (
        running_server(create_app(SandboxSettings(fast_path=True))) as fast,
        running_server(create_app(SandboxSettings(fast_path=False))) as routed,
    ):
        yield fast, routed


def _exchange(base: str, headers: dict[str, str]) -> list[tuple[int, str, str, bytes]]:
    seen = []
    for method, path, query, body, extra in CALLS:
        url = f"{base}{path}" + (f"?{query}" if query else "")
        response = httpx.request(method, url, json=body, headers={"Prefer": "transient", **headers, **extra})
        content = _PORT.sub(b"HOST", _TIMES.sub(rb'"\1":"T"', response.content))
        location = _PORT.sub(b"HOST", response.headers.get("location", "").encode()).decode()
        seen.append((response.status_code, response.headers.get("content-type", ""), location, content))
    return seen


def test_fast_path_answers_exactly_like_the_routes(both: tuple[str, str]) -> None:
    fast, routed = both
    fast_seen = _exchange(fast, bearer(fast))
    routed_seen = _exchange(routed, bearer(routed))
    for call, got, want in zip(CALLS, fast_seen, routed_seen, strict=True):
        assert got == want, call[:3]
    assert {status for status, *_ in fast_seen} >= {200, 204, 400, 404, 405}


def test_fast_path_refuses_a_missing_or_dead_token_like_netsuite(both: tuple[str, str]) -> None:
    fast, routed = both
    for base in (fast, routed):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            response = httpx.get(f"{base}{RECORDS}/customer/1001", headers=headers)
            assert response.status_code == 401
            assert response.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_fast_path_claims_only_the_plain_forms_of_the_hot_calls() -> None:
    app = create_app(SandboxSettings())
    assert isinstance(app, SandboxApp)
    assert app.fast_path is not None

    def claimed(method: str, path: str, query: bytes = b"", length: str | None = "2", root: str = "") -> bool:
        headers = [(b"host", b"127.0.0.1:8302")]
        if length is not None:
            headers.append((b"content-length", length.encode()))
        scope: Any = {
            "type": "http",
            "method": method,
            "scheme": "http",
            "path": path,
            "root_path": root,
            "query_string": query,
            "headers": headers,
            "server": ("127.0.0.1", 8302),
        }
        assert app.fast_path is not None
        return app.fast_path.route(scope) is not None

    assert claimed("GET", f"{RECORDS}/salesOrder/eid:SF-1", b"expandSubResources=true")
    assert claimed("PUT", f"{RECORDS}/customer/eid:SF-1")
    assert claimed("PATCH", f"{RECORDS}/customer/1001")
    assert claimed("POST", f"{RECORDS}/customer")
    assert claimed("POST", SUITEQL, b"limit=200&offset=0")
    assert not claimed("GET", f"{RECORDS}/customer/1001/")  # trailing slash: Litestar normalises it
    assert not claimed("GET", f"{RECORDS}/customer")  # collections
    assert not claimed("GET", f"{RECORDS}/salesOrder/1/item")  # sublists
    assert not claimed("GET", f"{RECORDS}/customer/1001", b"fields=id")
    assert not claimed("PUT", f"{RECORDS}/customer/eid:SF-1", length=None)  # chunked upload
    assert not claimed("PUT", f"{RECORDS}/customer/eid:SF-1", length=str(10**9))  # 413 is Litestar's
    assert not claimed("POST", SUITEQL, b"limit=-1")
    assert not claimed("POST", SUITEQL, b"limit=1&limit=2")
    assert not claimed("DELETE", f"{RECORDS}/customer/1001")
    assert not claimed("GET", f"{RECORDS}/customer/1001", root="/netsuite")
    assert not claimed("POST", "/services/rest/auth/oauth2/v1/token")
