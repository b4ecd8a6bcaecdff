"""OAuth 2.0 client credentials with a signed client assertion (NetSuite M2M), and access tokens.

The assertion is verified for real: its `kid` must name a registered certificate, it must be
signed by that certificate's key with PS256/384/512 or ES256/384/512, `iss` must be the
integration's client id, `scope` must include `rest_webservices`, `aud` must be the token
endpoint URL and `exp` at most one hour after `iat`.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from system_apis.erp.sandbox.errors import NetSuiteError
from system_apis.erp.sandbox.store import Certificate

__all__ = [
    "ALGORITHMS",
    "ASSERTION_TYPE",
    "TOKEN_PATH",
    "AccessTokens",
    "TokenError",
    "verify_assertion",
]

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ("PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
MAX_ASSERTION_LIFETIME = 3600
LEEWAY = 30


class TokenError(Exception):
    """A refused grant: `error` is `invalid_request`, `invalid_client` or `invalid_grant`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


def _scopes(claim: Any) -> set[str]:
    if isinstance(claim, str):
        return {s.strip() for s in claim.replace(",", " ").split() if s.strip()}
    if isinstance(claim, list):
        return {s for s in claim if isinstance(s, str)}
    return set()


def verify_assertion(form: Mapping[str, str], certificates: Mapping[str, Certificate], token_url: str) -> str:
    """Check the token request form and its client assertion; returns the integration's client id."""
    if form.get("grant_type") != "client_credentials":
        raise TokenError("invalid_request", "grant_type must be client_credentials")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise TokenError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.DecodeError:
        raise TokenError("invalid_request", "client_assertion is not a JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise TokenError("invalid_request", f"algorithm {alg!r} is not supported; use one of {', '.join(ALGORITHMS)}")
    certificate = certificates.get(kid) if isinstance(kid, str) else None
    if certificate is None:
        raise TokenError("invalid_client", f"no certificate with id {kid!r} is mapped to an integration")
    try:
        claims = jwt.decode(
            assertion,
            load_pem_public_key(certificate.public_key_pem.encode()),  # type: ignore[arg-type]  # EC/RSA only
            algorithms=[alg],
            leeway=LEEWAY,
            options={"require": ["iss", "aud", "iat", "exp", "scope"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("invalid_grant", "the client assertion has expired") from None
    except jwt.InvalidSignatureError:
        raise TokenError("invalid_client", "the client assertion signature does not verify") from None
    except jwt.PyJWTError as exc:
        raise TokenError("invalid_grant", f"the client assertion is invalid: {exc}") from None
    if claims["iss"] != certificate.client_id:
        raise TokenError("invalid_client", "iss is not the integration mapped to this certificate")
    if "rest_webservices" not in _scopes(claims["scope"]):
        raise TokenError("invalid_grant", "scope must include rest_webservices")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if token_url not in audiences:
        raise TokenError("invalid_grant", f"aud must be the token endpoint {token_url}")
    if not isinstance(claims["iat"], int | float) or claims["exp"] - claims["iat"] > MAX_ASSERTION_LIFETIME:
        raise TokenError("invalid_grant", "exp may be at most 60 minutes after iat")
    return certificate.client_id


class AccessTokens:
    """Opaque bearer tokens with a lifetime; held in memory, so a restart logs every client out."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._tokens: dict[str, tuple[str, float]] = {}

    def issue(self, client_id: str) -> str:
        now = time.monotonic()
        self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (client_id, now + self.ttl)
        return token

    def revoke_all(self) -> None:
        self._tokens.clear()

    def check(self, authorization: str | None) -> str:
        """The client id behind a `Bearer` header; NetSuite's 401 INVALID_LOGIN otherwise."""
        kind, _, token = (authorization or "").partition(" ")
        entry = self._tokens.get(token.strip()) if kind.lower() == "bearer" else None
        if entry is None or entry[1] <= time.monotonic():
            raise NetSuiteError(
                401, "INVALID_LOGIN", "Invalid login attempt. For more details, see the Login Audit Trail."
            )
        return entry[0]
