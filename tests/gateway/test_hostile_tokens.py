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
from servicekit.jose import CURVE_ORDERS, normalize_token
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
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


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _high_s(idp: RunningIdp) -> str:
    # The same signature's other valid form (r, n - s): verifies mathematically, a second spelling.
    head, _, signature = idp.mint().rpartition(".")
    raw = _b64decode(signature)
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{_b64(raw[:32] + (CURVE_ORDERS['ES256'] - s).to_bytes(32, 'big'))}"


def _padded(idp: RunningIdp) -> str:
    return idp.mint() + "=="  # a 64-byte signature is 86 characters: two padding characters fit


def _stray_character(idp: RunningIdp) -> str:
    header, payload, signature = idp.mint().split(".")
    return f"{header}.{payload[:10]}*{payload[10:]}.{signature}"


def _non_canonical_base64(idp: RunningIdp) -> str:
    # 64 bytes in 86 characters leave 2 unused bits in the last one: setting them spells the same bytes.
    head, _, signature = idp.mint().rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet[alphabet.index(signature[-1]) | 0b11]
    return f"{head}.{signature[:-1]}{last}"


def _not_an_access_token(idp: RunningIdp) -> str:
    # Genuinely signed by the issuer's key, but typed as a plain JWT, not an RFC 9068 access token.
    claims = jwt.decode(idp.mint(), options={"verify_signature": False})
    key = idp.issuer.keys.current
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "JWT"})
    return normalize_token(token, "ES256")


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
    "high-s-signature": _high_s,
    "padded-base64url": _padded,
    "stray-character-in-segment": _stray_character,
    "non-canonical-base64url": _non_canonical_base64,
    "string-exp": lambda idp: idp.mint(exp=str(int(time.time()) + 600)),
    "string-nbf": lambda idp: idp.mint(nbf=str(int(time.time()) - 60)),
    "boolean-iat": lambda idp: idp.mint(iat=True),
    "typ-not-at-jwt": _not_an_access_token,
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
    # RFC 6750 3.1: a token was presented and refused.
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    entry = await audited(redis, cid)
    assert (entry["status"], entry["reason"], entry["client"]) == ("401", "invalid-token", "-")


async def test_the_genuine_token_the_hostile_ones_are_built_from_passes(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    # Guards the table above: the same request with an untampered token is accepted.
    async with AsyncTestClient(make_gateway()) as client:
        response = await client.get("/v1/quote-to-cash/runs/run-1", headers={"Authorization": f"Bearer {idp.mint()}"})
    assert response.status_code == 200, response.text


async def test_two_authorization_headers_are_400_and_never_reach_the_upstream(
    make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient, upstream: FakeUpstream
) -> None:
    # Which of two credentials counts is ambiguous (one component may check the first, another the
    # last), so a request carrying two is refused whichever is genuine.
    good, other = f"Bearer {idp.mint()}", f"Bearer {idp.mint(client_id='demo-reader')}"
    tag = uuid.uuid4().hex
    async with AsyncTestClient(make_gateway()) as client:
        for pair in ((good, other), (other, good), (good, good)):
            cid = uuid.uuid4().hex
            headers = [("Authorization", pair[0]), ("Authorization", pair[1]), ("X-Correlation-ID", cid)]
            response = await client.get(f"/v1/quote-to-cash/runs/run-1?tag={tag}", headers=headers)
            assert_problem(response, 400, "duplicate-authorization", cid)
            assert (await audited(redis, cid))["status"] == "400"
    assert upstream.hits[tag] == 0


async def test_a_request_without_a_token_gets_a_bare_bearer_challenge(
    make_gateway: Callable[..., Litestar],
) -> None:
    async with AsyncTestClient(make_gateway()) as client:
        response = await client.get("/v1/quote-to-cash/runs/run-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"  # RFC 6750 3.1: no error code without a token
