"""Tokens an attacker might send: every one is 401 problem+json and lands in the audit stream."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from servicekit import RedisClient
from tests.gateway.conftest import RunningIdp
from tests.gateway.helpers import assert_problem, audited


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _alg_none(idp: RunningIdp) -> str:
    good = idp.mint(scopes=("q2c:read",))
    claims = jwt.decode(good, options={"verify_signature": False})
    return f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': idp.issuer.keys.current.kid})}.{_segment(claims)}."


def _hs256_with_public_key(idp: RunningIdp) -> str:
    # The classic key-confusion attack: HMAC keyed with the issuer's (public) PEM.
    key = idp.issuer.keys.current
    pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(idp.mint(), options={"verify_signature": False})
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_segment(claims)}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _unknown_kid(idp: RunningIdp) -> str:
    claims = jwt.decode(idp.mint(), options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": "not-a-known-kid"})


def _forged_with_known_kid(idp: RunningIdp) -> str:
    claims = jwt.decode(idp.mint(), options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, stranger, algorithm="ES256", headers={"kid": idp.issuer.keys.current.kid})


def _untrusted_issuer(idp: RunningIdp) -> str:
    claims = jwt.decode(idp.mint(), options={"verify_signature": False})
    stranger = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode({**claims, "iss": "http://stranger.example"}, stranger, algorithm="ES256", headers={"kid": "k"})


def _tampered(idp: RunningIdp) -> str:
    header, payload, signature = idp.mint(scopes=("q2c:read",)).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["legal_entities"] = ["US01", "DE01", "GB01", "FR01"]
    return f"{header}.{_segment(claims)}.{signature}"


HOSTILE: dict[str, Callable[[RunningIdp], str]] = {
    "alg-none": _alg_none,
    "hs256-with-public-key": _hs256_with_public_key,
    "wrong-audience": lambda idp: idp.mint(aud="someone-else"),
    "wrong-issuer": lambda idp: idp.mint(iss="http://evil.example"),
    "unknown-kid": _unknown_kid,
    "forged-signature-known-kid": _forged_with_known_kid,
    "tampered-payload": _tampered,
    "truncated": lambda idp: idp.mint()[:-12],
    "not-a-jwt": lambda idp: "definitely-not-a-token",
    "expired": lambda idp: idp.mint(iat=int(time.time()) - 3600, nbf=0, exp=int(time.time()) - 600),
    "not-yet-valid": lambda idp: idp.mint(nbf=int(time.time()) + 600),
    "issued-in-the-future": lambda idp: idp.mint(iat=int(time.time()) + 600, nbf=int(time.time())),
    "oversized": lambda idp: idp.mint(padding="x" * 9000),
    "untrusted-issuer-with-own-key": _untrusted_issuer,
    "no-kid": lambda idp: jwt.encode(
        jwt.decode(idp.mint(), options={"verify_signature": False}), idp.issuer.keys.current.private_key, "ES256"
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_token_is_refused_and_audited(
    name: str, make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    token = HOSTILE[name](idp)
    cid = uuid.uuid4().hex
    async with AsyncTestClient(make_gateway()) as client:
        response = await client.get(
            "/v1/quote-to-cash/runs/run-1", headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": cid}
        )
    assert_problem(response, 401, "invalid-token", cid)
    assert response.headers["www-authenticate"] == "Bearer"
    entry = await audited(redis, cid)
    assert (entry["status"], entry["reason"], entry["client"]) == ("401", "invalid-token", "-")


async def test_the_genuine_token_the_hostile_ones_are_built_from_passes(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    # Guards the table above: the same request with an untampered token is accepted.
    async with AsyncTestClient(make_gateway()) as client:
        response = await client.get("/v1/quote-to-cash/runs/run-1", headers={"Authorization": f"Bearer {idp.mint()}"})
    assert response.status_code == 200, response.text
