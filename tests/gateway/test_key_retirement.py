"""A key rotated out of the IdP's JWKS stops verifying everywhere within the JWKS cache lifetime.

The IdP keeps a retired key published for its grace period; after that the key is gone from the
set, and a token signed with it (minted later, or verified and cached earlier) must be refused by
the gateway and by every service, at the latest one JWKS cache lifetime later.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import jwt
import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from gateway import GatewaySettings, create_app
from gateway.idp import IdpSettings
from gateway.idp import create_app as create_idp
from gateway.idp.devcredentials import DevCredentials
from gateway.idp.keys import SigningKey
from servicekit import ServiceSettings, create_service_app, free_port, require_scopes
from servicekit.jose import normalize_token
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.support import running_server

#: The verifiers' bound on a JWKS's lifetime in these tests (the IdP says max-age=60).
_MAX_AGE = 1.0


@pytest.fixture
def short_grace_idp(redis_url: str, dev_credentials: DevCredentials) -> Iterator[RunningIdp]:
    port = free_port()
    settings = IdpSettings(
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        token_ttl=1,
        key_grace_seconds=1,
        redis_url=redis_url,
        clients_path=dev_credentials.clients_path,
        users_path=dev_credentials.users_path,
    )
    app = create_idp(settings)
    with running_server(app, port=port) as url:
        yield RunningIdp(url, app, dev_credentials)


@get("/v1/things", guards=[require_scopes("q2c:read")], sync_to_thread=False)
def things() -> dict[str, str]:
    return {"ok": "yes"}


def _signed_by(key: SigningKey, idp: RunningIdp, audience: str = "fig") -> str:
    """A token for client `demo` minted now, signed with `key` (current or not)."""
    minted = idp.mint(aud=audience, jti=uuid.uuid4().hex, exp=int(time.time()) + 600)
    claims = jwt.decode(minted, options={"verify_signature": False})
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"})
    return normalize_token(token, "ES256")


async def _refused_within(call: Callable[[], Awaitable[httpx.Response]], seconds: float) -> httpx.Response | None:
    """The first 401 answer within `seconds` (asked every 50 ms: the refusal is the signal), else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        response = await call()
        if response.status_code == 401:
            return response
        assert response.status_code == 200, response.text
        await asyncio.sleep(0.05)
    return None


async def test_a_retired_key_is_refused_by_the_gateway_and_a_service_after_its_grace_period(
    short_grace_idp: RunningIdp, upstream: FakeUpstream, redis_url: str
) -> None:
    idp = short_grace_idp
    common = {
        "redis_url": redis_url,
        "idp_url": idp.url,
        "token_issuer": idp.issuer.issuer,
        "jwks_max_age": _MAX_AGE,
        "jwks_refresh_interval": 0.1,
    }
    gateway = create_app(
        GatewaySettings(process_url=upstream.base, client_secret=idp.credentials.client_secret("gateway"), **common)  # type: ignore[arg-type]
    )
    service = create_service_app(
        name="svc",
        settings=ServiceSettings(**common),  # type: ignore[arg-type]
        route_handlers=[things],
    )
    old = idp.issuer.keys.current
    cached = _signed_by(old, idp)
    async with AsyncTestClient(gateway) as gw, AsyncTestClient(service) as svc:

        def via_gateway(token: str) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: gw.get("/v1/quote-to-cash/runs/run-1", headers={"Authorization": f"Bearer {token}"})

        def direct(token: str) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: svc.get("/v1/things", headers={"Authorization": f"Bearer {token}"})

        # Both verified (and cached) the token while its key was current.
        assert (await via_gateway(cached)()).status_code == 200
        assert (await direct(cached)()).status_code == 200
        idp.issuer.keys.rotate()
        deadline = time.monotonic() + 5
        async with httpx.AsyncClient() as http:
            while old.kid in {k["kid"] for k in (await http.get(f"{idp.url}/.well-known/jwks.json")).json()["keys"]}:
                assert time.monotonic() < deadline, "the IdP never dropped the retired key"
                await asyncio.sleep(0.1)
        # Grace period over. A token newly minted with the retired key, and the one cached before.
        late = _signed_by(old, idp)
        for call in (via_gateway(late), direct(late), via_gateway(cached), direct(cached)):
            refused = await _refused_within(call, _MAX_AGE + 2)
            assert refused is not None, "a token signed with a retired key was still accepted"
            assert refused.json()["type"].endswith("/invalid-token")
        fresh = _signed_by(idp.issuer.keys.current, idp)
        assert (await via_gateway(fresh)()).status_code == 200
        assert (await direct(fresh)()).status_code == 200
