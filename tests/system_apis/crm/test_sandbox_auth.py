"""The sandbox's token endpoint and session handling behave like Salesforce's."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import CLIENT_ID, CLIENT_SECRET, SandboxAdmin, token_for

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def _token(base: str, **form: str) -> httpx.Response:
    return httpx.post(base + "/services/oauth2/token", data=form)


def test_client_credentials_token_has_salesforce_shape(sandbox: str) -> None:
    response = _token(sandbox, grant_type="client_credentials", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == sandbox
    assert body["id"] == f"{sandbox}/id/00D8d0000000FIGORG/0058d00000FIGUSRAA"
    assert body["issued_at"].isdigit()
    assert "expires_in" not in body  # the session timeout decides, as on Salesforce


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, "invalid_client_id"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": JWT_BEARER}, "invalid_request"),
        ({"grant_type": JWT_BEARER, "assertion": "not-a-jwt"}, "invalid_grant"),
    ],
)
def test_bad_token_requests_get_oauth_error_400(sandbox: str, form: dict[str, str], error: str) -> None:
    response = _token(sandbox, **form)
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_calls_without_a_valid_session_get_invalid_session_id(sandbox: str) -> None:
    url = sandbox + "/services/data/v62.0/sobjects/Opportunity/0068d00000DEMO1AAA"
    for headers in ({}, {"Authorization": "Bearer 00D!forged"}):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_sessions_expire_after_the_timeout() -> None:
    with running_server(create_app(SalesforceSandboxSettings(session_timeout=0.3))) as base:
        headers = {"Authorization": f"Bearer {token_for(base)}"}
        url = base + "/services/data/v62.0/sobjects/Account/0018d00000DEMOAAAA"
        assert httpx.get(url, headers=headers).status_code == 200
        time.sleep(0.4)
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_admin_can_expire_every_session(sandbox: str, admin: SandboxAdmin) -> None:
    headers = {"Authorization": f"Bearer {token_for(sandbox)}"}
    url = sandbox + "/services/data/v62.0/sobjects/Account/0018d00000DEMOAAAA"
    assert httpx.get(url, headers=headers).status_code == 200
    httpx.post(sandbox + "/__admin/sessions/expire")
    assert httpx.get(url, headers=headers).status_code == 401


def _assertion(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": CLIENT_ID,
        "sub": "integration@fig.dev",
        "aud": "https://test.salesforce.com",
        "exp": int(time.time()) + 120,
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="RS256")


def test_jwt_bearer_checks_signature_and_claims(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "sf.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with running_server(create_app(SalesforceSandboxSettings(jwt_public_key_file=str(public)))) as base:
        ok = _token(base, grant_type=JWT_BEARER, assertion=_assertion(key))
        assert ok.status_code == 200, ok.text
        assert ok.json()["instance_url"] == base
        refused = {
            "signed by another key": _assertion(other),
            "exp beyond 3 minutes": _assertion(key, exp=int(time.time()) + 600),
            "expired": _assertion(key, exp=int(time.time()) - 10),
            "wrong audience": _assertion(key, aud="https://example.com"),
            "unknown user": _assertion(key, sub="someone@else"),
        }
        for reason, assertion in refused.items():
            response = _token(base, grant_type=JWT_BEARER, assertion=assertion)
            assert response.status_code == 400, reason
            assert response.json()["error"] == "invalid_grant", reason
