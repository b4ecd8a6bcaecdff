"""The dev IdP outside a developer's machine: no default secrets, guarded admin, throttled
client authentication, complete metadata, CORS for the configured console only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from gateway.idp import IdpSettings, create_app
from gateway.idp.clients import RegistryError, load_registry
from gateway.idp.devcredentials import DevCredentials, ensure_dev_credentials
from gateway.idp.throttle import FAIL_PREFIX
from gateway.idp.users import load_users
from process_apis import ProcessSettings
from process_apis.adapters import open_system_clients
from servicekit import SettingsError, load_settings
from servicekit.redis import RedisClient
from tests.gateway.conftest import Settings

CC = {"grant_type": "client_credentials"}
ADMIN = "x" * 32
ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_registries_hold_no_secret_and_do_not_start_an_idp(redis_url: str) -> None:
    for name in ("clients.toml", "users.toml"):
        text = (ROOT / "gateway" / "idp" / name).read_text()
        assert "secret_hash" not in text
        assert "password_hash" not in text
        assert "-secret" not in text
    with pytest.raises(RegistryError, match=r"no secret_hash.*FIG_CLIENTS_PATH"):
        create_app(load_settings(IdpSettings, {"FIG_REDIS_URL": redis_url}))


async def test_the_process_api_without_its_secret_stops_naming_the_variable() -> None:
    settings = ProcessSettings(idp_url="http://idp.test")
    assert settings.client_secret is None
    with pytest.raises(SettingsError, match="FIG_CLIENT_SECRET is required"):
        async with open_system_clients(settings):
            pass


def test_dev_credentials_are_generated_once_private_and_hashed(tmp_path: Path) -> None:
    first = ensure_dev_credentials(tmp_path)
    again = ensure_dev_credentials(tmp_path)
    other = ensure_dev_credentials(tmp_path / "elsewhere")
    assert first == again
    assert first.client_secrets["demo"] != other.client_secrets["demo"]
    assert set(first.passwords) == {"ana.de", "sam.us", "chris.controller", "ivy.admin", "otto.auditor"}
    for name in ("credentials.json", "clients.json", "users.json"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    stored = (tmp_path / "clients.json").read_text() + (tmp_path / "users.json").read_text()
    assert not any(secret in stored for secret in [*first.client_secrets.values(), *first.passwords.values()])
    assert load_registry(first.clients_path).get("demo") is not None
    assert load_users(first.users_path).get("ana.de") is not None


def test_the_admin_endpoint_is_off_by_default_and_needs_a_token_when_on(idp_settings: Settings) -> None:
    assert IdpSettings().admin_enabled is False
    with pytest.raises(ValueError, match="FIG_ADMIN_TOKEN"):
        create_app(idp_settings(admin_enabled=True))


async def test_the_admin_endpoint_refuses_callers_without_the_admin_token(idp_settings: Settings) -> None:
    async with AsyncTestClient(create_app(idp_settings())) as off:
        assert (await off.post("/__admin/rotate-key")).status_code in (404, 405)
    async with AsyncTestClient(create_app(idp_settings(admin_enabled=True, admin_token=ADMIN))) as client:
        kids = [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]]
        kid = kids[0]  # the access-token key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ADMIN}"}):
            refused = await client.post("/__admin/rotate-key", headers=headers)
            assert refused.status_code == 401
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["type"].endswith("/admin-credential-required")
        assert [k["kid"] for k in (await client.get("/.well-known/jwks.json")).json()["keys"]] == kids
        rotated = await client.post("/__admin/rotate-key", headers={"Authorization": f"Bearer {ADMIN}"})
    assert rotated.status_code == 200
    assert rotated.json()["previous_kid"] == kid


async def test_wrong_secrets_are_throttled_per_client_then_even_the_right_one_waits(
    idp_settings: Settings, demo: tuple[str, str], redis: RedisClient
) -> None:
    app = create_app(idp_settings(auth_failure_limit=5, auth_failure_address_limit=100))
    async with AsyncTestClient(app) as client:
        wrong = [await client.post("/oauth2/token", data=CC, auth=("demo", f"guess-{n}")) for n in range(5)]
        assert {r.status_code for r in wrong} == {401}
        blocked = await client.post("/oauth2/token", data=CC, auth=demo)
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "temporarily_unavailable"
        assert 0 < int(blocked.headers["retry-after"]) <= 300
        # Another client from the same address is not blocked by demo's failures.
        other = await client.post("/oauth2/token", data=CC, auth=("demo-reader", "nope"))
        assert other.status_code == 401
    # The counter lives in Redis under the client's own hash tag (one key per operation).
    assert int(await redis.get(f"{FAIL_PREFIX}{{client:demo}}") or 0) == 5


async def test_failures_from_one_address_are_throttled_across_clients_and_processes(
    idp_settings: Settings, dev_credentials: DevCredentials
) -> None:
    settings = idp_settings(auth_failure_limit=100, auth_failure_address_limit=4)
    # Two IdP processes on one Redis share the count.
    async with AsyncTestClient(create_app(settings)) as one, AsyncTestClient(create_app(settings)) as two:
        for n, client in enumerate((one, two, one, two)):
            response = await client.post("/oauth2/token", data=CC, auth=("demo-reader", f"guess-{n}"))
            assert response.status_code == 401
        blocked = await two.post("/oauth2/token", data=CC, auth=("process-api", "guess"))
        right = await one.post("/oauth2/token", data=CC, auth=("demo", dev_credentials.client_secret("demo")))
    assert blocked.status_code == right.status_code == 429
    assert "retry-after" in right.headers


async def test_discovery_documents_list_every_required_field_and_only_the_served_flows(
    idp_settings: Settings,
) -> None:
    async with AsyncTestClient(create_app(idp_settings())) as client:
        oidc = await client.get("/.well-known/openid-configuration")
        oauth = await client.get("/.well-known/oauth-authorization-server")
        endpoints = {
            "authorization_endpoint": "/oauth2/authorize",
            "token_endpoint": "/oauth2/token",
            "userinfo_endpoint": "/oauth2/userinfo",
            "end_session_endpoint": "/oauth2/logout",
            "jwks_uri": "/.well-known/jwks.json",
        }
        reachable = {
            name: (await client.get(path)).status_code for name, path in endpoints.items() if name != "token_endpoint"
        }
    assert oidc.status_code == oauth.status_code == 200
    document = oidc.json()
    assert document == oauth.json()
    # OpenID Connect Discovery 1.0 section 3 (REQUIRED) and RFC 8414 section 2 (REQUIRED).
    for field in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert document[field], field
    assert document["issuer"] == "http://idp.test"
    assert {name: document[name] for name in endpoints} == {n: f"http://idp.test{p}" for n, p in endpoints.items()}
    assert all(status != 404 for status in reachable.values()), reachable
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    }
    assert document["code_challenge_methods_supported"] == ["S256"]
    # Discovery 1.0 section 3: RS256 MUST be offered for ID tokens (OIDC Core's default algorithm).
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "offline_access", "q2c:read", "crm:read"} <= set(document["scopes_supported"])
    assert "token" not in json.dumps(document["response_types_supported"])


async def test_cors_answers_the_configured_console_only_and_preflight_needs_no_token(idp_settings: Settings) -> None:
    console = "https://console.example.com"
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    async with AsyncTestClient(create_app(idp_settings(console_origin=console))) as client:
        allowed = await client.options("/oauth2/userinfo", headers={"Origin": console, **preflight})
        stranger = await client.options("/oauth2/userinfo", headers={"Origin": "https://evil.example", **preflight})
        simple = await client.get("/.well-known/openid-configuration", headers={"Origin": console})
        foreign = await client.get("/.well-known/openid-configuration", headers={"Origin": "https://evil.example"})
    assert allowed.status_code in (200, 204)
    assert allowed.headers["access-control-allow-origin"] == console
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert stranger.headers.get("access-control-allow-origin") != "https://evil.example"
    assert "access-control-allow-origin" not in stranger.headers
    assert simple.headers["access-control-allow-origin"] == console
    assert "access-control-allow-origin" not in foreign.headers


async def test_without_a_console_origin_no_cross_origin_access_is_granted(idp_settings: Settings) -> None:
    async with AsyncTestClient(create_app(idp_settings())) as client:
        response = await client.get("/.well-known/openid-configuration", headers={"Origin": "https://any.example"})
    assert "access-control-allow-origin" not in response.headers
