"""Fixtures for the ERP tests: a NetSuite sandbox on a real socket and a connector pointed at it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from system_apis.erp import ErpSettings
from system_apis.erp import create_app as create_erp_app
from system_apis.erp.connector import NetSuiteClient, NetSuiteTokens
from system_apis.erp.connector.auth import ASSERTION_TYPE, TOKEN_PATH
from system_apis.erp.devkey import DEV_CLIENT_ID, DEV_KEY_ID, dev_private_key
from system_apis.erp.sandbox import SandboxSettings, create_app
from tests.support import running_server
from tests.tokens import TestIssuer


@pytest.fixture(scope="module")
def sandbox_server() -> Iterator[str]:
    """One sandbox per test module (reset before each test by `sandbox`)."""
    with running_server(create_app(SandboxSettings(max_in_flight=50))) as base:
        yield base


@pytest.fixture
def sandbox(sandbox_server: str) -> str:
    """The sandbox's base URL, freshly reset to its seed (records, tokens, faults, counters)."""
    httpx.post(f"{sandbox_server}/__admin/reset").raise_for_status()
    return sandbox_server


def assertion(token_url: str, **overrides: Any) -> str:
    """A client assertion from the dev integration; `overrides` replace claims, `_kid`/`_alg`/`_key` the rest,
    `_lifetime` sets `exp` that many seconds after this assertion's own `iat`."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": DEV_CLIENT_ID,
        "scope": ["rest_webservices"],
        "aud": token_url,
        "iat": now,
        "exp": now + 600,
    }
    kid = overrides.pop("_kid", DEV_KEY_ID)
    alg = overrides.pop("_alg", "ES256")
    key = overrides.pop("_key", dev_private_key())
    if "_lifetime" in overrides:
        claims["exp"] = now + int(overrides.pop("_lifetime"))
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def token_form(client_assertion: str, **overrides: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }
    form.update(overrides)
    return form


def bearer(base: str) -> dict[str, str]:
    url = base + TOKEN_PATH
    response = httpx.post(url, data=token_form(assertion(url)))
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def stats(base: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{base}/__admin/stats").json()
    return result


def arm(base: str, match: str, kind: str, **extra: Any) -> None:
    httpx.post(f"{base}/__admin/faults", json={"match": match, "kind": kind, **extra}).raise_for_status()


def make_client(base: str, http: httpx.AsyncClient, **overrides: Any) -> NetSuiteClient:
    tokens = NetSuiteTokens(
        http,
        token_url=base + TOKEN_PATH,
        client_id=DEV_CLIENT_ID,
        key_id=DEV_KEY_ID,
        key=dev_private_key(),
        backoff=0.01,
    )
    options: dict[str, Any] = {"max_in_flight": 4, "throttle_retries": 5, "backoff": 0.01, "max_backoff": 0.05}
    options.update(overrides)
    return NetSuiteClient(http, tokens, **options)


@pytest.fixture
async def netsuite(sandbox: str) -> AsyncIterator[NetSuiteClient]:
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as http:
        yield make_client(sandbox, http)


async def admin(base: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """Call the sandbox's `/__admin{path}` without blocking the test's event loop."""
    async with httpx.AsyncClient(base_url=base) as client:
        response = await client.request(method, f"/__admin{path}", **kwargs)
    response.raise_for_status()
    return response


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[TestIssuer, str]]:
    token_issuer = TestIssuer()
    with token_issuer.serve() as url:
        yield token_issuer, url


@pytest.fixture
async def api(
    request: pytest.FixtureRequest, sandbox: str, redis_url: str, issuer: tuple[TestIssuer, str]
) -> AsyncIterator[AsyncTestClient[Any]]:
    token_issuer, idp_url = issuer
    settings = ErpSettings(
        redis_url=redis_url,
        sandbox_url=sandbox,
        idp_url=idp_url,
        token_issuer=token_issuer.issuer,
        feed_interval=0,
        ns_backoff=0.01,
        ns_max_backoff=0.05,
        ns_throttle_retries=2,
        ns_page_size=request.param if hasattr(request, "param") else 1000,
    )
    async with AsyncTestClient(create_erp_app(settings)) as client:
        client.headers["Authorization"] = f"Bearer {token_issuer.mint(['erp:read', 'erp:write'])}"
        yield client
