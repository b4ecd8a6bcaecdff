"""Signing a person in at the dev IdP over HTTP, as a browser and the console would (code + PKCE)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

__all__ = [
    "CONSOLE",
    "REDIRECT",
    "authorize_params",
    "login_form",
    "redirect_query",
    "sign_in",
    "verifier_and_challenge",
]

CONSOLE = "fig-console"
REDIRECT = "http://127.0.0.1:5173/callback"
_LOGIN_ID = re.compile(r'name="login_id" value="([^"]+)"')


def verifier_and_challenge() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CONSOLE,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": "st-" + secrets.token_hex(4),
        "nonce": "n-" + secrets.token_hex(4),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **overrides,
    }


def login_form(browser: httpx.Client, params: dict[str, str]) -> str:
    """GET the authorize endpoint; the sign-in form's login_id (the browser keeps the cookie)."""
    page = browser.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    found = _LOGIN_ID.search(page.text)
    assert found, page.text
    return found.group(1)


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def sign_in(base_url: str, username: str, password: str, scope: str = "openid profile email") -> dict[str, Any]:
    """The token response of a full code flow for `username` (with the verifier and state used)."""
    verifier, challenge = verifier_and_challenge()
    params = authorize_params(challenge, scope=scope)
    with httpx.Client(base_url=base_url, follow_redirects=False) as browser:
        login_id = login_form(browser, params)
        back = redirect_query(
            browser.post("/oauth2/login", data={"login_id": login_id, "username": username, "password": password})
        )
        assert back["state"] == params["state"]
        tokens = browser.post(
            "/oauth2/token",
            data={
                "grant_type": "authorization_code",
                "client_id": CONSOLE,
                "code": back["code"],
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
            },
        )
    assert tokens.status_code == 200, tokens.text
    return {**tokens.json(), "nonce": params["nonce"]}
