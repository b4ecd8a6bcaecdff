"""Tokens for people: an ES256 access token for the APIs, an RS256 ID token for the client.

The access token (RFC 9068, `typ: at+jwt`) carries `sub` = the person, `client_id` = the client
they signed in through, `scope`, `roles` and `legal_entities`, so the gateway checks a person
exactly as it checks a client. The ID token (`aud` = the client) says who signed in and when.
"""

from __future__ import annotations

import uuid
from typing import Any

import jwt

from gateway.idp.clients import ClientRecord
from gateway.idp.issuer import TokenIssuer
from gateway.idp.users import UserDirectory, UserRecord
from servicekit.jose import normalize_token

__all__ = ["OIDC_SCOPES", "PersonTokens", "person_scopes"]

#: Scopes about the sign-in itself; all others are API scopes that roles grant.
OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})


def person_scopes(requested: list[str], user: UserRecord, client: ClientRecord, users: UserDirectory) -> list[str]:
    """What the person grants: the requested OIDC scopes, and the requested API scopes their roles
    and the client allow (all of those when the request names no API scope)."""
    allowed = users.scopes_of(user) & set(client.scopes)
    api = [s for s in requested if s not in OIDC_SCOPES]
    granted_api = [s for s in api if s in allowed] if api else sorted(allowed)
    return [s for s in requested if s in OIDC_SCOPES] + granted_api


class PersonTokens:
    """Signs people's tokens with the IdP's current key and reads them back (userinfo, logout)."""

    def __init__(self, issuer: TokenIssuer, users: UserDirectory) -> None:
        self.issuer = issuer
        self.users = users

    def mint(
        self,
        user: UserRecord,
        client: ClientRecord,
        scope: list[str],
        *,
        auth_time: int,
        sid: str,
        nonce: str | None,
    ) -> dict[str, Any]:
        now = int(self.issuer.clock())
        exp = now + self.issuer.ttl
        entities = [e for e in user.legal_entities if not client.legal_entities or e in client.legal_entities]
        access = {
            "iss": self.issuer.issuer,
            "aud": self.issuer.audience,
            "sub": user.username,
            "client_id": client.client_id,
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            "auth_time": auth_time,
            "scope": " ".join(scope),
            "roles": list(user.roles),
            "legal_entities": entities,
        }
        identity: dict[str, Any] = {
            "iss": self.issuer.issuer,
            "sub": user.username,
            "aud": client.client_id,
            "azp": client.client_id,
            "iat": now,
            "exp": exp,
            "auth_time": auth_time,
            "sid": sid,
            "roles": list(user.roles),
            "legal_entities": entities,
            **({"nonce": nonce} if nonce else {}),
            **self.profile(user, scope),
        }
        key, id_key = self.issuer.keys.current, self.issuer.keys.id_token_key
        return {
            # RFC 9068 access token in the one canonical encoding verifiers accept (low-S).
            "access_token": normalize_token(
                jwt.encode(access, key.private_key, "ES256", headers={"kid": key.kid, "typ": "at+jwt"}), "ES256"
            ),
            "id_token": jwt.encode(identity, id_key.private_key, id_key.alg, headers={"kid": id_key.kid, "typ": "JWT"}),
            "token_type": "Bearer",
            "expires_in": exp - now,
            "scope": " ".join(scope),
        }

    @staticmethod
    def profile(user: UserRecord, scope: list[str]) -> dict[str, Any]:
        """The standard claims the granted scopes release (OpenID Connect Core 5.4)."""
        claims: dict[str, Any] = {}
        if "profile" in scope:
            claims.update(name=user.name, preferred_username=user.username)
        if "email" in scope and user.email:
            claims.update(email=user.email, email_verified=False)
        return claims

    def read(self, token: str, *, audience: str | None = None, verify_exp: bool = True) -> dict[str, Any]:
        """The claims of a token this IdP signed (any published key); jwt.PyJWTError otherwise."""
        kid = jwt.get_unverified_header(token).get("kid")
        key = next((k for k in self.issuer.keys.published() if k.kid == kid), None)
        if key is None:
            raise jwt.InvalidKeyError("the token was not signed by a key of this issuer")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.private_key.public_key(),
            algorithms=[key.alg],
            audience=audience or self.issuer.audience,
            issuer=self.issuer.issuer,
            options={"require": ["exp", "iat", "sub"], "verify_exp": verify_exp},
        )
        return claims
