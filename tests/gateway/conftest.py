"""Gateway test fixtures: the real dev IdP and a fake upstream, each served over real HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway import GatewaySettings, create_app
from gateway.idp import IdpSettings
from gateway.idp import create_app as create_idp
from gateway.idp.issuer import TokenIssuer
from servicekit import free_port
from tests.gateway.fakes import FakeUpstream
from tests.support import running_server


class RunningIdp:
    def __init__(self, url: str, app: Litestar) -> None:
        self.url = url
        self.issuer: TokenIssuer = app.state.token_issuer
        self._tokens: dict[tuple[str, str, str], str] = {}

    def token(self, client_id: str = "demo", secret: str = "demo-secret", scope: str = "") -> str:
        """A token from the token endpoint, fetched once per (client, scope) for the module."""
        key = (client_id, secret, scope)
        if key not in self._tokens:
            data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
            response = httpx.post(f"{self.url}/oauth2/token", data=data, auth=(client_id, secret))
            assert response.status_code == 200, response.text
            self._tokens[key] = response.json()["access_token"]
        return self._tokens[key]

    def mint(self, client_id: str = "demo", scopes: tuple[str, ...] = ("q2c:read",), **claims: Any) -> str:
        """A token signed with the IdP's real current key, with any claims overridden."""
        client = self.issuer.registry.get(client_id)
        assert client is not None
        return self.issuer.issue(client, list(scopes), **claims).access_token


@pytest.fixture(scope="module")
def idp() -> Iterator[RunningIdp]:
    port = free_port()
    app = create_idp(IdpSettings(port=port, issuer=f"http://127.0.0.1:{port}"))
    with running_server(app, port=port) as url:
        yield RunningIdp(url, app)


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    fake = FakeUpstream()
    with running_server(fake.app()) as url:
        fake.base = url
        yield fake


@pytest.fixture
def make_gateway(redis_url: str, idp: RunningIdp, upstream: FakeUpstream) -> Callable[..., Litestar]:
    """Build a gateway app wired to the test IdP, the fake upstream and the test Redis."""

    def build(**overrides: Any) -> Litestar:
        settings: dict[str, Any] = {
            "redis_url": redis_url,
            "idp_url": idp.url,
            "token_issuer": idp.issuer.issuer,
            "process_url": upstream.base,
        }
        settings.update(overrides)
        return create_app(GatewaySettings(**settings))

    return build
