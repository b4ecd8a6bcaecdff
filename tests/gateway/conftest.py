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
from gateway.idp.devcredentials import DevCredentials
from gateway.idp.issuer import TokenIssuer
from servicekit import free_port
from servicekit.redis import EmbeddedRedis, RedisClient
from tests.gateway.fakes import FakeUpstream
from tests.support import running_server


class RunningIdp:
    def __init__(self, url: str, app: Litestar, credentials: DevCredentials) -> None:
        self.url = url
        self.issuer: TokenIssuer = app.state.token_issuer
        self.credentials = credentials
        #: The headers that authorise the admin endpoint (`POST /__admin/rotate-key`).
        self.admin = {"Authorization": f"Bearer {credentials.admin_token}"}
        self._tokens: dict[tuple[str, str, str], str] = {}

    def token(self, client_id: str = "demo", secret: str | None = None, scope: str = "") -> str:
        """A token from the token endpoint, fetched once per (client, scope) for the module.

        Without `secret`, the client's secret generated for this test session."""
        key = (client_id, secret or self.credentials.client_secret(client_id), scope)
        client_id, secret, scope = key
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


Settings = Callable[..., IdpSettings]


@pytest.fixture
def idp_settings(redis: RedisClient, redis_url: str, dev_credentials: DevCredentials) -> Settings:
    """IdP settings on the test Redis (flushed) with this session's generated dev registries."""

    def make(**overrides: Any) -> IdpSettings:
        values: dict[str, Any] = {
            "issuer": "http://idp.test",
            "redis_url": redis_url,
            "clients_path": dev_credentials.clients_path,
            "users_path": dev_credentials.users_path,
        }
        return IdpSettings(**(values | overrides))

    return make


@pytest.fixture
def demo(dev_credentials: DevCredentials) -> tuple[str, str]:
    """The `demo` client's (id, generated secret)."""
    return ("demo", dev_credentials.client_secret("demo"))


@pytest.fixture(scope="module")
def idp(redis_server: EmbeddedRedis, dev_credentials: DevCredentials) -> Iterator[RunningIdp]:
    port = free_port()
    settings = IdpSettings(
        port=port,
        issuer=f"http://127.0.0.1:{port}",
        redis_url=redis_server.url,
        clients_path=dev_credentials.clients_path,
        users_path=dev_credentials.users_path,
        admin_enabled=True,
        admin_token=dev_credentials.admin_token,
    )
    app = create_idp(settings)
    with running_server(app, port=port) as url:
        yield RunningIdp(url, app, dev_credentials)


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
            "client_secret": idp.credentials.client_secret("gateway"),
        }
        settings.update(overrides)
        return create_app(GatewaySettings(**settings))

    return build
