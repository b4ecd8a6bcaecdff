"""The process API is reached through the gateway only: consumer tokens are for the gateway's
audience, and the gateway calls the process API with a token obtained on the caller's behalf.

Real dev IdP, real gateway, real process API (over HTTP), fake system APIs behind it.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from litestar.testing import AsyncTestClient

from gateway import GatewaySettings
from gateway import create_app as create_gateway
from gateway.delegation import TokenExchanger
from gateway.idp import IdpSettings
from gateway.idp import create_app as create_idp
from gateway.idp.devcredentials import DevCredentials
from process_apis import create_app
from servicekit import JWKSVerifier, RedisClient, free_port
from servicekit.redis import EmbeddedRedis
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO2
from tests.process_apis.support import RUNS, settings_for
from tests.support import running_server


@pytest.fixture(scope="module")
def idp_url(redis_server: EmbeddedRedis, dev_credentials: DevCredentials) -> Iterator[str]:
    port = free_port()
    settings = IdpSettings(
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        redis_url=redis_server.url,
        clients_path=dev_credentials.clients_path,
        users_path=dev_credentials.users_path,
    )
    with running_server(create_idp(settings), port=port) as url:
        yield url


def _token(idp_url: str, client_id: str, secret: str) -> str:
    response = httpx.post(
        f"{idp_url}/oauth2/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def test_a_consumer_token_is_refused_by_the_process_api_and_works_through_the_gateway(
    systems: Systems, redis: RedisClient, redis_url: str, idp_url: str, dev_credentials: DevCredentials
) -> None:
    settings = settings_for(
        systems,
        redis_url,
        auth_required=True,
        jwks_url=f"{idp_url}/.well-known/jwks.json",
        token_issuer=idp_url,
    )
    consumer = {"Authorization": f"Bearer {_token(idp_url, 'demo', dev_credentials.client_secret('demo'))}"}
    with running_server(create_app(settings)) as process_url:
        async with httpx.AsyncClient(base_url=process_url) as direct:
            bypass = await direct.post(RUNS, json={"opportunity_id": DEMO2}, headers=consumer)
        gateway = create_gateway(
            GatewaySettings(
                redis_url=redis_url,
                idp_url=idp_url,
                token_issuer=idp_url,
                process_url=process_url,
                client_secret=dev_credentials.client_secret("gateway"),
            )
        )
        async with AsyncTestClient(gateway) as client:
            started = await client.post(
                RUNS, json={"opportunity_id": DEMO2}, headers={**consumer, "Idempotency-Key": "bypass-1"}
            )
    assert bypass.status_code == 401, bypass.text
    assert bypass.json()["type"].endswith("/invalid-token")
    assert "audience" in bypass.json()["detail"]
    assert bypass.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert started.status_code == 202, started.text
    # The run records the original caller, not the gateway.
    assert started.json()["gates"][0]["actor"] == "client:demo"


async def test_the_exchanged_token_gives_the_process_api_the_callers_subject_scopes_and_entities(
    idp_url: str, dev_credentials: DevCredentials
) -> None:
    reader = _token(idp_url, "demo-reader", dev_credentials.client_secret("demo-reader"))
    async with httpx.AsyncClient() as http:
        # Exactly what the gateway does, then what the process API's verifier makes of the result.
        internal, _ = await TokenExchanger(
            f"{idp_url}/oauth2/token", "gateway", dev_credentials.client_secret("gateway"), "fig-process", http
        ).exchange(reader)
        process = JWKSVerifier(
            f"{idp_url}/.well-known/jwks.json",
            issuer=idp_url,
            audience="fig-process",
            http=http,
            token_type="at+jwt",
        )
        claims = await process.verify(internal)
        with pytest.raises(Exception, match="audience"):
            await process.verify(reader)  # the consumer's own token is not for the process API
        # Only a client registered for the audience may exchange, and not for another audience.
        refused = await http.post(
            f"{idp_url}/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": reader,
                "subject_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "audience": "fig-process",
            },
            auth=("demo", dev_credentials.client_secret("demo")),
        )
    assert (claims.subject, claims.client_id) == ("demo-reader", "demo-reader")
    assert claims.scopes == {"q2c:read"}
    assert claims.legal_entities == {"DE01"}
    assert claims.raw["act"] == {"sub": "gateway"}
    assert refused.status_code == 400
    assert refused.json()["error"] == "unauthorized_client"
