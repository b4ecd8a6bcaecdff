"""`POST /services/rest/auth/oauth2/v1/token`: client credentials with a signed client assertion."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency

from system_apis.erp.sandbox.auth import TOKEN_PATH, TokenError, verify_assertion
from system_apis.erp.sandbox.runtime import SandboxRuntime
from system_apis.erp.sandbox.views import rest_base

__all__ = ["token"]


@post(TOKEN_PATH, operation_id="ns_token", status_code=200)
async def token(request: Request[Any, Any, Any], sandbox: NamedDependency[SandboxRuntime]) -> Response[bytes]:
    """`{access_token, expires_in, token_type}`; 400 `{"error": ...}` when the grant is refused.

    `expires_in` is always 3600 as NetSuite documents; the token really dies after `token_ttl`, so a
    short `token_ttl` makes a client meet a 401 on a token it believes valid (re-auth tests).
    """
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    token_url = rest_base(request, sandbox.settings.public_url).removesuffix("/services/rest") + TOKEN_PATH
    try:
        client_id = verify_assertion(form, sandbox.store.state.certificates, token_url)
    except TokenError as exc:
        body = msgspec.json.encode({"error": exc.error, "error_description": exc.description})
        return Response(content=body, status_code=400, media_type="application/json")
    sandbox.stats.token_grants += 1
    access = sandbox.tokens.issue(client_id)
    body = msgspec.json.encode({"access_token": access, "expires_in": 3600, "token_type": "Bearer"})
    return Response(content=body, status_code=200, media_type="application/json")
