"""Service bearer auth: a verified token with the right scope passes; anything else is refused."""

from __future__ import annotations

import time

import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from servicekit import ServiceSettings, create_service_app, require_scopes
from tests.tokens import TestIssuer


@get("/things", guards=[require_scopes("things:read")], sync_to_thread=False)
def things() -> dict[str, str]:
    return {"ok": "yes"}


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


async def test_scoped_token_passes_and_others_are_refused(redis_url: str, issuer: TestIssuer) -> None:
    with issuer.serve() as idp:
        settings = ServiceSettings(redis_url=redis_url, idp_url=idp, token_issuer=issuer.issuer)
        app = create_service_app(name="t", settings=settings, route_handlers=[things])
        async with AsyncTestClient(app) as client:
            good = await client.get("/things", headers={"Authorization": f"Bearer {issuer.mint(['things:read'])}"})
            assert good.status_code == 200
            missing = await client.get("/things")
            assert missing.status_code == 401
            assert missing.json()["type"].endswith("/missing-token")
            wrong_scope = await client.get("/things", headers={"Authorization": f"Bearer {issuer.mint(['x'])}"})
            assert wrong_scope.status_code == 403
            assert wrong_scope.json()["type"].endswith("/insufficient-scope")
            expired = issuer.mint(["things:read"], exp=int(time.time()) - 600)
            old = await client.get("/things", headers={"Authorization": f"Bearer {expired}"})
            assert old.status_code == 401
            assert "expired" in old.json()["detail"]
            stranger = TestIssuer(issuer=issuer.issuer).mint(["things:read"])
            unknown_key = await client.get("/things", headers={"Authorization": f"Bearer {stranger}"})
            assert unknown_key.status_code == 401
            assert "not in the issuer's JWKS" in unknown_key.json()["detail"]
            health = await client.get("/health/live")
            assert health.status_code == 200, health.text


def test_openapi_security_states_the_scopes_the_guard_enforces(redis_url: str) -> None:
    app = create_service_app(name="t", settings=ServiceSettings(redis_url=redis_url), route_handlers=[things])
    operation = app.openapi_schema.to_schema()["paths"]["/things"]["get"]
    assert operation["security"] == [{"bearer": ["things:read"]}]


async def test_a_token_signed_by_a_known_key_for_another_issuer_is_refused(redis_url: str, issuer: TestIssuer) -> None:
    # What a system API sees when a key it trusts signed a token naming another issuer (the gateway,
    # which picks the verifier by `iss`, never lets one reach it): the issuer check must hold alone.
    with issuer.serve() as idp:
        settings = ServiceSettings(redis_url=redis_url, idp_url=idp, token_issuer=issuer.issuer)
        app = create_service_app(name="t", settings=settings, route_handlers=[things])
        async with AsyncTestClient(app) as client:
            forged = issuer.mint(["things:read"], iss="http://other-issuer.example")
            response = await client.get("/things", headers={"Authorization": f"Bearer {forged}"})
            assert response.status_code == 401
            assert response.json()["type"].endswith("/invalid-token")
            assert "issuer" in response.json()["detail"]
            assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_two_authorization_headers_are_400_and_a_missing_token_gets_a_plain_challenge(
    redis_url: str, issuer: TestIssuer
) -> None:
    with issuer.serve() as idp:
        settings = ServiceSettings(redis_url=redis_url, idp_url=idp, token_issuer=issuer.issuer)
        app = create_service_app(name="t", settings=settings, route_handlers=[things])
        async with AsyncTestClient(app) as client:
            good = f"Bearer {issuer.mint(['things:read'])}"
            twice = await client.get("/things", headers=[("Authorization", good), ("Authorization", good)])
            assert twice.status_code == 400, twice.text
            assert twice.json()["type"].endswith("/duplicate-authorization")
            missing = await client.get("/things")
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"] == "Bearer"
