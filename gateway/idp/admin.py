"""The IdP's admin endpoint: key rotation, for a caller presenting the admin token.

Served only with `FIG_ADMIN_ENABLED` (off by default), and then only with `FIG_ADMIN_TOKEN` set:
the token is compared in constant time; anything else is 401 problem+json.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request, post
from litestar.datastructures import State

from gateway.idp.issuer import TokenIssuer
from servicekit import Unauthorized

__all__ = ["rotate_key"]


def _require_admin(request: Request[Any, Any, Any], expected: str) -> None:
    kind, _, presented = request.headers.get("authorization", "").partition(" ")
    if kind.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise Unauthorized(
            "This admin endpoint needs the IdP's admin token: send `Authorization: Bearer <FIG_ADMIN_TOKEN>`.",
            slug="admin-credential-required",
            title="Admin credential required",
            headers={"WWW-Authenticate": 'Bearer realm="fig-idp-admin"'},
        )


@post("/__admin/rotate-key", operation_id="idp_rotate_key", status_code=200)
async def rotate_key(request: Request[Any, Any, Any], state: State) -> dict[str, Any]:
    """Make a new signing key current; the previous one stays in the JWKS for the grace period."""
    _require_admin(request, state.settings.admin_token)
    issuer: TokenIssuer = state.token_issuer
    previous = issuer.keys.current.kid
    current = issuer.keys.rotate()
    return {
        "kid": current.kid,
        "previous_kid": previous,
        "grace_seconds": issuer.keys.grace_seconds,
        "published": [k.kid for k in issuer.keys.published()],
    }
