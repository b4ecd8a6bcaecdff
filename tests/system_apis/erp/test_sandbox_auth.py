"""The sandbox's M2M token endpoint verifies client assertions the way NetSuite documents."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from system_apis.erp.connector.auth import TOKEN_PATH
from system_apis.erp.devkey import DEV_CLIENT_ID
from system_apis.erp.sandbox import SandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.erp.conftest import assertion, bearer, token_form


def test_dev_assertion_gets_a_bearer_token_that_opens_the_records(sandbox: str) -> None:
    url = sandbox + TOKEN_PATH
    response = httpx.post(url, data=token_form(assertion(url)))
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 3600
    assert body["token_type"] == "Bearer"
    record = httpx.get(
        f"{sandbox}/services/rest/record/v1/customer/1001", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert record.status_code == 200
    assert record.json()["id"] == "1001"


@pytest.mark.parametrize(
    ("overrides", "form", "error"),
    [
        ({"_kid": "no-such-cert"}, {}, "invalid_client"),
        ({"aud": "https://1234567.suitetalk.api.netsuite.com" + TOKEN_PATH}, {}, "invalid_grant"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3700}, {}, "invalid_grant"),
        # Relative to the assertion's own iat: parameters are built at collection, long before the run.
        ({"_lifetime": 3700}, {}, "invalid_grant"),
        ({"scope": ["restlets"]}, {}, "invalid_grant"),
        ({"iss": "another-integration"}, {}, "invalid_client"),
        ({"_key": ec.generate_private_key(ec.SECP256R1())}, {}, "invalid_client"),
        ({}, {"grant_type": "password"}, "invalid_request"),
        ({}, {"client_assertion_type": "urn:x"}, "invalid_request"),
    ],
    ids=[
        "unknown-kid",
        "wrong-aud",
        "expired",
        "over-an-hour",
        "no-rest-scope",
        "wrong-iss",
        "wrong-key",
        "grant-type",
        "assertion-type",
    ],
)
def test_bad_assertions_are_refused_with_oauth_errors(
    sandbox: str, overrides: dict[str, object], form: dict[str, str], error: str
) -> None:
    url = sandbox + TOKEN_PATH
    response = httpx.post(url, data=token_form(assertion(url, **overrides), **form))
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_rs256_is_not_an_accepted_algorithm(sandbox: str) -> None:
    url = sandbox + TOKEN_PATH
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    response = httpx.post(url, data=token_form(assertion(url, _alg="RS256", _key=key)))
    assert response.json()["error"] == "invalid_request"


def test_ps256_with_a_registered_rsa_certificate(sandbox: str) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    httpx.post(
        f"{sandbox}/__admin/certificates",
        json={"kid": "rsa-cert", "client_id": DEV_CLIENT_ID, "public_key_pem": pem.decode()},
    ).raise_for_status()
    url = sandbox + TOKEN_PATH
    response = httpx.post(url, data=token_form(assertion(url, _alg="PS256", _key=key, _kid="rsa-cert")))
    assert response.status_code == 200


def test_records_need_a_live_token() -> None:
    with running_server(create_app(SandboxSettings(token_ttl=0.3))) as base:
        headers = bearer(base)
        assert httpx.get(f"{base}/services/rest/record/v1/customer/1001", headers=headers).status_code == 200
        time.sleep(0.35)
        expired = httpx.get(f"{base}/services/rest/record/v1/customer/1001", headers=headers)
        assert expired.status_code == 401
        body = json.loads(expired.content)
        assert body["status"] == 401
        assert body["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
        missing = httpx.get(f"{base}/services/rest/record/v1/customer/1001")
        assert missing.status_code == 401
