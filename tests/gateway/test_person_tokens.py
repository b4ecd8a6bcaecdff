"""The gateway accepts a person's token from the dev IdP beside client tokens, within the person's
entities and their roles' scopes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway.idp.devcredentials import DevCredentials
from servicekit import RedisClient
from servicekit.jose import normalize_token
from tests.gateway.conftest import RunningIdp
from tests.gateway.people import sign_in

RUNS = "/v2/quote-to-cash/runs"


@pytest.fixture
async def client(make_gateway: Callable[..., Litestar], redis: RedisClient) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(make_gateway()) as test_client:
        yield test_client


def _headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Correlation-ID": uuid.uuid4().hex, **extra}


def _echoed(body: dict[str, Any]) -> dict[str, str]:
    return dict(body["headers"])


async def test_a_persons_token_reaches_the_upstream_as_the_person(
    client: AsyncTestClient[Litestar], idp: RunningIdp, dev_credentials: DevCredentials
) -> None:
    token = sign_in(idp.url, "ana.de", dev_credentials.passwords["ana.de"])["access_token"]
    response = await client.get(f"{RUNS}/run-7", headers=_headers(token))
    assert response.status_code == 200, response.text
    forwarded = _echoed(response.json())
    assert forwarded["x-client-id"] == "fig-console"
    assert forwarded["x-legal-entities"] == "DE01"
    # The upstream gets the gateway's exchanged token, issued on the person's behalf: sub = the person.
    upstream_token = forwarded["authorization"].removeprefix("Bearer ")
    upstream_claims = jwt.decode(upstream_token, options={"verify_signature": False})
    assert upstream_claims["sub"] == "ana.de"
    assert upstream_claims["act"] == {"sub": "gateway"}


async def test_a_person_is_held_to_their_entities_and_role(
    client: AsyncTestClient[Litestar], idp: RunningIdp, dev_credentials: DevCredentials
) -> None:
    analyst = sign_in(idp.url, "ana.de", dev_credentials.passwords["ana.de"])["access_token"]
    auditor = sign_in(idp.url, "otto.auditor", dev_credentials.passwords["otto.auditor"])["access_token"]
    start = {"opportunity_id": "0068d00000DEMO1AAA", "legal_entity": "US01"}
    other_entity = await client.post(
        RUNS, json=start, headers=_headers(analyst, **{"Idempotency-Key": uuid.uuid4().hex})
    )
    assert other_entity.status_code == 403, other_entity.text
    assert other_entity.json()["type"].endswith("/entity-not-allowed")
    read_only = await client.post(
        RUNS,
        json={**start, "legal_entity": "DE01"},
        headers=_headers(auditor, **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert read_only.status_code == 403
    assert read_only.json()["type"].endswith("/insufficient-scope")


async def test_a_token_naming_its_client_in_azp_is_checked_as_that_client(
    client: AsyncTestClient[Litestar], idp: RunningIdp
) -> None:
    # How Keycloak and Entra ID name the client a person signed in through: `azp`, no `client_id`.
    now = int(time.time())
    claims = {
        "iss": idp.issuer.issuer,
        "aud": "fig",
        "sub": "0b5c3d1e-person",
        "azp": "fig-console",
        "iat": now,
        "exp": now + 300,
        "scope": "q2c:read",
        "legal_entities": ["GB01"],
    }
    key = idp.issuer.keys.current
    token = normalize_token(
        jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}), "ES256"
    )
    response = await client.get(f"{RUNS}/run-8", headers=_headers(token))
    assert response.status_code == 200, response.text
    assert _echoed(response.json())["x-client-id"] == "fig-console"
