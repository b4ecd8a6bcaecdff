"""OAuth 2.0 Token Exchange (RFC 8693): a trusted intermediary trades a consumer's token for one
addressed to an internal audience, on the consumer's behalf.

The gateway uses it so that consumer tokens (audience `fig`) are good at the gateway only: the
process API accepts its own audience (`fig-process`), which only the IdP issues, and only to a
client registered for it (`token_exchange_audiences`). The issued token keeps the consumer's
`sub`, `client_id`, `scope` (or the subset asked for) and `legal_entities`, names the intermediary
in `act` (RFC 8693 4.1), and expires no later than the token it was exchanged for.
"""

from __future__ import annotations

from typing import Any

import jwt
from jwt import PyJWK

from gateway.delegation import ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE
from gateway.idp.clients import ClientRecord
from gateway.idp.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient
from gateway.idp.issuer import IssuedToken, TokenIssuer
from servicekit.jose import MalformedToken, check_compact

__all__ = ["ACCESS_TOKEN_TYPE", "TOKEN_EXCHANGE", "exchange_token"]


def _verified_subject(issuer: TokenIssuer, token: str) -> dict[str, Any]:
    """The claims of a consumer access token this IdP issued (signature, type, `iss`, `aud`, times)."""
    try:
        header = jwt.get_unverified_header(token)
        check_compact(token, header.get("alg"))
    except (jwt.PyJWTError, MalformedToken) as exc:
        raise InvalidGrant(f"The subject_token is not a well-formed JWT: {exc}") from None
    if header.get("alg") != "ES256" or header.get("typ") != "at+jwt":
        raise InvalidGrant("The subject_token is not an ES256 access token (typ at+jwt) of this issuer.")
    key = next((k for k in issuer.keys.published() if k.kid == header.get("kid")), None)
    if key is None:
        raise InvalidGrant("The subject_token was not signed by a current key of this issuer.")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            PyJWK(key.public_jwk).key,
            algorithms=["ES256"],
            audience=issuer.audience,
            issuer=issuer.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidGrant(f"The subject_token does not verify: {exc}") from None
    if any(isinstance(claims.get(n), bool) or not isinstance(claims.get(n), int | float) for n in ("exp", "iat")):
        raise InvalidGrant("The subject_token's exp/iat are not JSON numbers.")
    if "act" in claims:
        raise InvalidGrant("The subject_token is itself an exchanged token; exchange the original.")
    return claims


def exchange_token(issuer: TokenIssuer, actor: ClientRecord, form: Any) -> IssuedToken:
    """Issue a token for `audience` on behalf of `subject_token`'s holder, to the authenticated `actor`."""
    if not actor.token_exchange_audiences:
        raise UnauthorizedClient(f"Client {actor.client_id!r} may not use token exchange.")
    subject_token, subject_type = form.get("subject_token"), form.get("subject_token_type")
    if not isinstance(subject_token, str) or not subject_token:
        raise InvalidRequest("The subject_token parameter is missing.")
    if subject_type != ACCESS_TOKEN_TYPE:
        raise InvalidRequest(f"The subject_token_type must be {ACCESS_TOKEN_TYPE}.")
    requested_type = form.get("requested_token_type")
    if requested_type not in (None, "", ACCESS_TOKEN_TYPE):
        raise InvalidRequest(f"Only {ACCESS_TOKEN_TYPE} can be issued.")
    audience = form.get("audience")
    if audience not in actor.token_exchange_audiences:
        raise InvalidRequest(
            f"Client {actor.client_id!r} may exchange tokens for the audience(s) "
            f"{', '.join(actor.token_exchange_audiences)} only, not {audience!r}."
        )
    subject = _verified_subject(issuer, subject_token)
    held = str(subject.get("scope", "")).split()
    requested = form.get("scope")
    scopes = held
    if isinstance(requested, str) and requested.strip():
        wanted = requested.split()
        beyond = sorted(set(wanted) - set(held))
        if beyond:
            raise InvalidScope(f"The subject_token does not carry: {' '.join(beyond)}.")
        scopes = list(dict.fromkeys(wanted))
    now = int(issuer.clock())
    entities = subject.get("legal_entities", [])
    return issuer.issue(
        actor,
        scopes,
        aud=audience,
        sub=subject["sub"],
        client_id=subject.get("client_id", subject["sub"]),
        legal_entities=entities if isinstance(entities, list) else [],
        act={"sub": actor.client_id},
        exp=min(int(subject["exp"]), now + issuer.ttl),
    )
