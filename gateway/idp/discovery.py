"""The IdP's metadata: OpenID Connect Discovery 1.0 and RFC 8414, listing only what it serves.

Both documents carry the same fields (RFC 8414 reuses the OpenID names). Flows that are not
served (implicit, hybrid, password, device) are not listed; the only response type is `code`,
the only PKCE method `S256`.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from gateway.idp.delegation import TOKEN_EXCHANGE
from gateway.idp.issuer import TokenIssuer
from gateway.idp.keys import ID_TOKEN_ALG
from gateway.idp.persons import OIDC_SCOPES
from gateway.idp.users import UserDirectory

__all__ = ["metadata", "oauth_metadata", "openid_configuration"]


def metadata(issuer: TokenIssuer, users: UserDirectory) -> dict[str, Any]:
    """The metadata document of `issuer` (its URL is the base of every endpoint)."""
    base = issuer.issuer.rstrip("/")
    return {
        "issuer": issuer.issuer,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "userinfo_endpoint": f"{base}/oauth2/userinfo",
        "end_session_endpoint": f"{base}/oauth2/logout",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials", TOKEN_EXCHANGE],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ID_TOKEN_ALG],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": sorted(OIDC_SCOPES | set(issuer.registry.all_scopes()) | set(users.all_scopes())),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "sid",
            "azp",
            "name",
            "preferred_username",
            "email",
            "email_verified",
            "roles",
            "legal_entities",
        ],
        "authorization_response_iss_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


def _document(state: State) -> Response[dict[str, Any]]:
    return Response(content=metadata(state.token_issuer, state.users), headers={"Cache-Control": "public, max-age=300"})


@get("/.well-known/openid-configuration", operation_id="idp_discovery", sync_to_thread=False)
def openid_configuration(state: State) -> Response[dict[str, Any]]:
    """OpenID Connect Discovery 1.0 provider metadata."""
    return _document(state)


@get("/.well-known/oauth-authorization-server", operation_id="idp_oauth_metadata", sync_to_thread=False)
def oauth_metadata(state: State) -> Response[dict[str, Any]]:
    """OAuth 2.0 Authorization Server Metadata (RFC 8414)."""
    return _document(state)
