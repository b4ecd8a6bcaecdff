"""The people's grants at the token endpoint: authorization code with PKCE, and refresh."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from litestar.datastructures import State

from gateway.idp.clients import ClientRecord
from gateway.idp.errors import InvalidGrant, InvalidRequest, InvalidScope
from gateway.idp.persons import PersonTokens
from gateway.idp.sessions import SessionStore
from gateway.idp.users import UserDirectory

__all__ = ["pkce_challenge", "redeem_code", "refresh"]

# RFC 7636 4.1: 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of `verifier`: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


async def redeem_code(form: dict[str, str], client: ClientRecord, state: State) -> dict[str, object]:
    """Exchange an authorization code (once) for the person's tokens and a refresh token."""
    code, verifier, redirect_uri = form.get("code"), form.get("code_verifier"), form.get("redirect_uri")
    if not code:
        raise InvalidRequest("The code parameter is missing.")
    if not verifier:
        raise InvalidRequest("The code_verifier parameter is missing: this IdP requires PKCE (S256).")
    if not _VERIFIER.match(verifier):
        raise InvalidRequest("The code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636).")
    sessions: SessionStore = state.sessions
    # Redeeming deletes the code first, so a wrong verifier also spends it (no verifier guessing).
    granted = await sessions.redeem_code(code)
    if granted is None:
        raise InvalidGrant("The authorization code is unknown, expired or already used.")
    if granted.grant.client_id != client.client_id:
        raise InvalidGrant("The authorization code was issued to another client.")
    if redirect_uri != granted.redirect_uri:
        raise InvalidGrant("The redirect_uri does not match the one of the authorization request.")
    if not hmac.compare_digest(pkce_challenge(verifier), granted.code_challenge):
        raise InvalidGrant("The code_verifier does not match the code_challenge (PKCE S256).")
    users: UserDirectory = state.users
    user = users.get(granted.grant.username)
    if user is None:
        raise InvalidGrant("The person of this code is no longer known.")
    sid, refresh_token = await sessions.start_family(granted.grant)
    people: PersonTokens = state.people
    body = people.mint(
        user, client, granted.grant.scope, auth_time=granted.grant.auth_time, sid=sid, nonce=granted.nonce
    )
    return {**body, "refresh_token": refresh_token}


async def refresh(form: dict[str, str], client: ClientRecord, state: State) -> dict[str, object]:
    """Rotate a refresh token: fresh tokens and the family's next refresh token (RFC 6749 6)."""
    presented = form.get("refresh_token")
    if not presented:
        raise InvalidRequest("The refresh_token parameter is missing.")
    sessions: SessionStore = state.sessions
    asked = form.get("scope")
    if asked:
        # Checked before rotating, so a refused narrowing leaves the presented token usable.
        current = await sessions.granted(presented)
        if current is not None and not set(asked.split()) <= set(current.scope):
            raise InvalidScope("A refresh may only ask for scopes of the original grant (RFC 6749 section 6).")
    rotated = await sessions.rotate(presented)
    if rotated is None:
        raise InvalidGrant("The refresh token is unknown, expired, revoked or already used.")
    sid, grant, following = rotated
    if grant.client_id != client.client_id:
        await sessions.end_session(sid)
        raise InvalidGrant("The refresh token was issued to another client.")
    users: UserDirectory = state.users
    user = users.get(grant.username)
    if user is None:
        await sessions.end_session(sid)
        raise InvalidGrant("The person of this refresh token is no longer known.")
    scope = [s for s in grant.scope if s in asked.split()] if asked else grant.scope
    people: PersonTokens = state.people
    body = people.mint(user, client, scope, auth_time=grant.auth_time, sid=sid, nonce=None)
    return {**body, "refresh_token": following}
