"""Client authentication and token minting: the OAuth 2.0 client-credentials grant."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import jwt

from gateway.idp.clients import ClientRecord, ClientRegistry
from gateway.idp.errors import InvalidClient, InvalidRequest, InvalidScope
from gateway.idp.hashing import verify_secret
from gateway.idp.keys import KeyRing
from servicekit.jose import normalize_token

__all__ = ["IssuedToken", "TokenIssuer", "parse_basic_auth"]


def parse_basic_auth(header: str) -> tuple[str, str] | None:
    """`Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 2.3.1) → (id, secret); None if not Basic."""
    kind, _, encoded = header.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("The Basic credentials are not valid base64 of `id:secret`.") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("The Basic credentials are not valid base64 of `id:secret`.")
    return unquote_plus(client_id), unquote_plus(secret)


class IssuedToken:
    __slots__ = ("access_token", "expires_in", "scope")

    def __init__(self, access_token: str, expires_in: int, scope: str) -> None:
        self.access_token = access_token
        self.expires_in = expires_in
        self.scope = scope

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }


class TokenIssuer:
    """Authenticates registered clients and signs their ES256 access tokens with the current key."""

    def __init__(
        self,
        registry: ClientRegistry,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self.clock = clock

    def authenticate(self, client_id: str, secret: str) -> ClientRecord:
        """The registered client whose secret this is; InvalidClient (same answer, same time) otherwise."""
        client = self.registry.get(client_id)
        # Verify even for an unknown id (against a dummy hash) so timing does not reveal valid ids.
        matches = verify_secret(secret, client.secret_hash if client else None)
        if client is None or not matches:
            raise InvalidClient("Client authentication failed.")
        return client

    @staticmethod
    def granted_scopes(client: ClientRecord, requested: str | None) -> list[str]:
        """The requested scopes if all are the client's; all its scopes if none were asked for."""
        if requested is None or not requested.strip():
            return list(client.scopes)
        wanted = requested.split()
        if any(not s.isprintable() or '"' in s or "\\" in s for s in wanted):
            raise InvalidRequest("The scope parameter contains characters a scope cannot have.")
        refused = sorted(set(wanted) - set(client.scopes))
        if refused:
            raise InvalidScope(f"Client {client.client_id!r} may not request: {' '.join(refused)}.")
        return list(dict.fromkeys(wanted))

    def issue(self, client: ClientRecord, scopes: list[str], **overrides: Any) -> IssuedToken:
        """Sign a token for `client` with `scopes`; `overrides` replace claims (tests mint odd tokens)."""
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": client.client_id,
            "client_id": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
            "legal_entities": list(client.legal_entities),
        }
        claims.update(overrides)
        key = self.keys.current
        # RFC 9068 access tokens (`typ: at+jwt`), in the one canonical encoding verifiers accept (low-S).
        token = normalize_token(
            jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid, "typ": "at+jwt"}), "ES256"
        )
        return IssuedToken(token, int(claims["exp"]) - now, str(claims["scope"]))
