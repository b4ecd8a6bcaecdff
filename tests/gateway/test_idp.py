"""The dev identity provider: client-credentials tokens that verify against its JWKS."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import jwt
import pytest
from litestar.testing import AsyncTestClient

from gateway.idp import create_app
from gateway.idp.clients import RegistryError, load_registry
from gateway.idp.devcredentials import DevCredentials
from gateway.idp.hashing import hash_secret
from gateway.idp.keys import KeyRing
from servicekit import JWKSVerifier, free_port
from tests.gateway.conftest import Settings
from tests.support import running_server

ISSUER = "http://idp.test"
CC = {"grant_type": "client_credentials"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_valid_client_gets_a_signed_token_with_its_claims(idp_settings: Settings, demo: tuple[str, str]) -> None:
    app = create_app(idp_settings())
    async with AsyncTestClient(app) as client:
        response = await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=_basic(*demo))
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"].split()[:2] == ["q2c:read", "q2c:write"]
        assert "sync:write" in body["scope"].split()
        jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "ES256"
    # One current key per algorithm: ES256 for access tokens, RS256 for ID tokens (OIDC's default).
    assert sorted((k["alg"], k["use"], k["kty"]) for k in jwks["keys"]) == [
        ("ES256", "sig", "EC"),
        ("RS256", "sig", "RSA"),
    ]
    [key] = [k for k in jwks["keys"] if k["alg"] == "ES256"]
    assert key["kid"] == header["kid"]
    assert not {"d", "p", "q"} & {m for k in jwks["keys"] for m in k}  # public halves only
    claims = jwt.decode(body["access_token"], jwt.PyJWK(key).key, algorithms=["ES256"], audience="fig", issuer=ISSUER)
    assert claims["sub"] == claims["client_id"] == "demo"
    assert claims["legal_entities"] == ["US01", "DE01", "GB01"]
    assert claims["exp"] - claims["iat"] == 900
    assert {"jti", "nbf"} <= claims.keys()


async def test_form_credentials_and_a_scope_subset_are_accepted(
    idp_settings: Settings, dev_credentials: DevCredentials
) -> None:
    async with AsyncTestClient(create_app(idp_settings())) as client:
        response = await client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "process-api",
                "client_secret": dev_credentials.client_secret("process-api"),
                "scope": "crm:read erp:write",
            },
        )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "crm:read erp:write"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "crm:read erp:write"


@pytest.mark.parametrize(
    ("basic", "data", "status", "error"),
    [
        (("demo", "wrong"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("nobody", "<demo>"), {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (None, {"grant_type": "client_credentials"}, 401, "invalid_client"),
        (("demo", "<demo>"), {"grant_type": "client_credentials", "scope": "crm:read"}, 400, "invalid_scope"),
        (("demo", "<demo>"), {"grant_type": "password"}, 400, "unsupported_grant_type"),
        (("demo", "<demo>"), {}, 400, "invalid_request"),
        (
            ("demo", "<demo>"),
            {"grant_type": "client_credentials", "client_id": "demo", "client_secret": "<demo>"},
            400,
            "invalid_request",
        ),
    ],
    ids=["wrong-secret", "unknown-client", "no-credentials", "scope-not-allowed", "grant", "no-grant", "two-methods"],
)
async def test_refusals_use_rfc6749_error_bodies(
    basic: tuple[str, str] | None,
    data: dict[str, str],
    status: int,
    error: str,
    idp_settings: Settings,
    demo: tuple[str, str],
) -> None:
    data = {k: demo[1] if v == "<demo>" else v for k, v in data.items()}
    headers = _basic(basic[0], demo[1] if basic[1] == "<demo>" else basic[1]) if basic else {}
    async with AsyncTestClient(create_app(idp_settings())) as client:
        response = await client.post("/oauth2/token", data=data, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.json()["error_description"]
    assert "access_token" not in response.json()
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


async def test_discovery_document_points_at_the_token_endpoint_and_jwks(idp_settings: Settings) -> None:
    # Without its own FIG_ISSUER the IdP issues as the FIG_TOKEN_ISSUER the services verify against.
    async with AsyncTestClient(create_app(idp_settings(issuer=None, token_issuer=ISSUER))) as client:
        document = (await client.get("/.well-known/openid-configuration")).json()
        health = await client.get("/health/ready")
    assert document["issuer"] == ISSUER
    assert document["token_endpoint"] == f"{ISSUER}/oauth2/token"
    assert document["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert "q2c:write" in document["scopes_supported"]
    assert health.status_code == 200


async def test_a_verifier_given_only_the_issuer_finds_its_keys_through_the_discovery_document(
    idp_settings: Settings, demo: tuple[str, str]
) -> None:
    # An issuer listed in gateway.toml without `jwks_url` (how any OpenID provider is configured).
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    with running_server(create_app(idp_settings(port=port, issuer=issuer)), port=port) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            token = (await http.post("/oauth2/token", data=CC, auth=demo)).json()["access_token"]
            verifier = JWKSVerifier(None, issuer=issuer, audience="fig", http=http)
            assert (await verifier.verify(token)).client_id == "demo"
            assert verifier.jwks_url == f"{issuer}/.well-known/jwks.json"  # the document's jwks_uri


async def test_rotation_keeps_old_tokens_verifiable_during_the_grace_period(
    idp_settings: Settings, demo: tuple[str, str]
) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    admin = {"Authorization": "Bearer " + "a" * 32}
    app = create_app(idp_settings(port=port, issuer=issuer, admin_enabled=True, admin_token="a" * 32))
    with running_server(app, port=port) as url:
        async with httpx.AsyncClient(base_url=url) as http:
            before = (await http.post("/oauth2/token", data=CC, auth=demo)).json()
            verifier = JWKSVerifier(
                f"{url}/.well-known/jwks.json", issuer=issuer, audience="fig", http=http, min_refresh_interval=0
            )
            assert (await verifier.verify(before["access_token"])).client_id == "demo"
            rotated = (await http.post("/__admin/rotate-key", headers=admin)).json()
            old_kid = jwt.get_unverified_header(before["access_token"])["kid"]
            assert rotated["previous_kid"] == old_kid
            assert rotated["kid"] != old_kid
            after = (await http.post("/oauth2/token", data=CC, auth=demo)).json()
            assert jwt.get_unverified_header(after["access_token"])["kid"] == rotated["kid"]
            kids = {k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"] if k["alg"] == "ES256"}
            assert kids == {old_kid, rotated["kid"]}
            # A fresh verifier (no cached keys) must accept both the old and the new token.
            fresh = JWKSVerifier(f"{url}/.well-known/jwks.json", issuer=issuer, audience="fig", http=http)
            assert (await fresh.verify(before["access_token"])).client_id == "demo"
            assert (await fresh.verify(after["access_token"])).client_id == "demo"


def test_a_rotated_out_key_leaves_the_jwks_after_the_grace_period() -> None:
    now = [1000.0]
    ring = KeyRing(grace_seconds=60, clock=lambda: now[0])
    old, old_id = ring.current.kid, ring.id_token_key.kid
    new = ring.rotate().kid
    new_id = ring.id_token_key.kid
    assert new_id != old_id  # both algorithms' keys rotate together
    now[0] += 59
    assert [k["kid"] for k in ring.jwks()["keys"]] == [old, old_id, new, new_id]
    now[0] += 2
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new, new_id]


async def test_keys_persist_in_the_data_dir_so_a_restart_keeps_tokens_valid(
    tmp_path: Path, idp_settings: Settings, demo: tuple[str, str]
) -> None:
    persistent = idp_settings(data_dir=str(tmp_path))
    async with AsyncTestClient(create_app(persistent)) as first:
        token = (await first.post("/oauth2/token", data=CC, auth=demo)).json()["access_token"]
    assert (tmp_path / "idp-keys.json").stat().st_mode & 0o077 == 0
    async with AsyncTestClient(create_app(persistent)) as second:
        keys = (await second.get("/.well-known/jwks.json")).json()["keys"]
    [key] = [k for k in keys if k["alg"] == "ES256"]
    assert jwt.decode(token, jwt.PyJWK(key).key, algorithms=["ES256"], audience="fig")["sub"] == "demo"


async def test_a_clients_file_is_the_registry(tmp_path: Path, idp_settings: Settings, demo: tuple[str, str]) -> None:
    path = tmp_path / "clients.toml"
    path.write_text(
        f'[[clients]]\nclient_id = "ci"\nsecret_hash = "{hash_secret("ci-secret")}"\n'
        'scopes = ["q2c:read"]\nlegal_entities = ["GB01"]\n'
    )
    async with AsyncTestClient(create_app(idp_settings(clients_path=str(path)))) as client:
        ok = await client.post("/oauth2/token", data=CC, auth=("ci", "ci-secret"))
        other = await client.post("/oauth2/token", data=CC, auth=demo)
    assert ok.status_code == 200
    assert jwt.decode(ok.json()["access_token"], options={"verify_signature": False})["legal_entities"] == ["GB01"]
    assert other.status_code == 401


def test_an_invalid_clients_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "clients.toml"
    path.write_text('[[clients]]\nclient_id = "ci"\nsecret_hash = "plain-text"\nscopes = ["q2c:read"]\n')
    with pytest.raises(RegistryError, match=r"\$\.clients\[0\]\.secret_hash"):
        load_registry(str(path))
    path.write_text('[[clients]]\nclient_id = "ci"\nsecret_hash = "x"\nscopes = "q2c:read"\n')
    with pytest.raises(RegistryError, match=r"\$\.clients\[0\]\.scopes"):
        load_registry(str(path))
