"""OpenID Connect discovery: the endpoints a provider states, for the issuer configured, or a reason."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from servicekit.oidc_discovery import DiscoveryFailed, discover

ISSUER = "https://login.example.com/realms/fig"


def _provider(document: dict[str, Any] | None, status: int = 200) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/realms/fig/.well-known/openid-configuration"
        return httpx.Response(status, json=document)

    return httpx.AsyncClient(base_url=ISSUER, transport=httpx.MockTransport(answer))


def _document(**changes: Any) -> dict[str, Any]:
    return {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
        "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
        "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code"],  # fields the console does not use are ignored
        **changes,
    }


async def test_the_endpoints_come_from_the_document_of_the_configured_issuer() -> None:
    async with _provider(_document()) as http:
        metadata = await discover(http, ISSUER)
    assert metadata.token_endpoint == f"{ISSUER}/protocol/openid-connect/token"
    assert metadata.end_session_endpoint is None


@pytest.mark.parametrize(
    ("document", "status", "reason"),
    [
        (_document(issuer="https://evil.example.com/realms/fig"), 200, "not the configured"),
        (_document(code_challenge_methods_supported=["plain"]), 200, "PKCE with S256"),
        (_document(token_endpoint=None), 200, "not usable"),
        (None, 404, "answered 404"),
    ],
)
async def test_a_document_for_another_issuer_or_without_s256_is_refused_with_the_reason(
    document: dict[str, Any] | None, status: int, reason: str
) -> None:
    async with _provider(document, status) as http:
        with pytest.raises(DiscoveryFailed, match=reason):
            await discover(http, ISSUER)
