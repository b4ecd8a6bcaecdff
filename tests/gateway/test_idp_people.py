"""People at the dev IdP: the OpenID Connect code flow with PKCE, over real HTTP with httpx."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from gateway.idp import create_app
from gateway.idp.devcredentials import DevCredentials
from servicekit import free_port
from tests.gateway.conftest import Settings
from tests.gateway.people import (
    CONSOLE,
    REDIRECT,
    authorize_params,
    login_form,
    redirect_query,
    sign_in,
    verifier_and_challenge,
)
from tests.support import running_server


@pytest.fixture
def idp_url(idp_settings: Settings) -> Iterator[str]:
    port = free_port()
    app = create_app(idp_settings(port=port, issuer=f"http://127.0.0.1:{port}", auth_failure_limit=3))
    with running_server(app, port=port) as url:
        yield url


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, options={"verify_signature": False})


def _refresh(url: str, token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "client_id": CONSOLE, "refresh_token": token}
    return httpx.post(f"{url}/oauth2/token", data=data)


def test_a_person_signs_in_reads_userinfo_refreshes_and_logs_out(idp_url: str, dev_credentials: DevCredentials) -> None:
    tokens = sign_in(idp_url, "ana.de", dev_credentials.passwords["ana.de"])
    access, identity = _claims(tokens["access_token"]), _claims(tokens["id_token"])
    assert jwt.get_unverified_header(tokens["access_token"])["typ"] == "at+jwt"
    assert (access["sub"], access["client_id"], access["aud"]) == ("ana.de", CONSOLE, "fig")
    assert access["roles"] == ["ops-analyst"]
    assert access["legal_entities"] == ["DE01"]
    granted = str(access["scope"]).split()
    assert {"openid", "q2c:read", "exceptions:write"} <= set(granted)
    assert "controls:write" not in granted  # not an ops analyst's scope
    assert (identity["aud"], identity["azp"], identity["nonce"]) == (CONSOLE, CONSOLE, tokens["nonce"])
    assert identity["name"] == "Ana Keller"
    # The ID token is RS256 (OIDC Core's default), verifiable as any relying party does: by its kid
    # in the discovery document's JWKS.
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"
    key = jwt.PyJWKClient(f"{idp_url}/.well-known/jwks.json").get_signing_key_from_jwt(tokens["id_token"])
    verified = jwt.decode(tokens["id_token"], key.key, algorithms=["RS256"], audience=CONSOLE, issuer=idp_url)
    assert verified["sub"] == "ana.de"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    info = httpx.get(f"{idp_url}/oauth2/userinfo", headers=bearer)
    assert info.status_code == 200, info.text
    assert info.json()["sub"] == "ana.de"
    assert info.json()["legal_entities"] == ["DE01"]
    assert info.json()["email"] == "ana.de@example.com"
    # Refresh rotates: a new refresh token each time; the spent one is refused and revokes the family.
    first = _refresh(idp_url, tokens["refresh_token"])
    assert first.status_code == 200, first.text
    assert first.json()["refresh_token"] != tokens["refresh_token"]
    assert _claims(first.json()["access_token"])["sub"] == "ana.de"
    second = _refresh(idp_url, first.json()["refresh_token"])
    assert second.status_code == 200
    # Logout ends the session: its refresh token stops working, and the browser goes back with state.
    out = httpx.get(
        f"{idp_url}/oauth2/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://127.0.0.1:5173/",
            "state": "bye",
        },
    )
    assert out.status_code == 303
    assert out.headers["location"] == "http://127.0.0.1:5173/?state=bye"
    after = _refresh(idp_url, second.json()["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"


def test_a_replayed_refresh_token_revokes_the_whole_session(idp_url: str, dev_credentials: DevCredentials) -> None:
    tokens = sign_in(idp_url, "sam.us", dev_credentials.passwords["sam.us"])
    rotated = _refresh(idp_url, tokens["refresh_token"]).json()["refresh_token"]
    replay = _refresh(idp_url, tokens["refresh_token"])
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token is revoked too: a stolen token cannot keep a session alive.
    assert _refresh(idp_url, rotated).status_code == 400


def _code(browser: httpx.Client, challenge: str, username: str, password: str) -> str:
    login_id = login_form(browser, authorize_params(challenge))
    response = browser.post("/oauth2/login", data={"login_id": login_id, "username": username, "password": password})
    return redirect_query(response)["code"]


def _redeem(browser: httpx.Client, code: str, verifier: str) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "client_id": CONSOLE,
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    return browser.post("/oauth2/token", data=data)


def test_a_wrong_verifier_is_refused_and_spends_the_code(idp_url: str, dev_credentials: DevCredentials) -> None:
    verifier, challenge = verifier_and_challenge()
    with httpx.Client(base_url=idp_url) as browser:
        code = _code(browser, challenge, "ivy.admin", dev_credentials.passwords["ivy.admin"])
        wrong = _redeem(browser, code, verifier_and_challenge()[0])
        right_too_late = _redeem(browser, code, verifier)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert "PKCE" in wrong.json()["error_description"]
    assert right_too_late.status_code == 400
    assert "access_token" not in right_too_late.json()


def test_a_code_is_redeemed_once(idp_url: str, dev_credentials: DevCredentials) -> None:
    verifier, challenge = verifier_and_challenge()
    with httpx.Client(base_url=idp_url) as browser:
        code = _code(browser, challenge, "otto.auditor", dev_credentials.passwords["otto.auditor"])
        first = _redeem(browser, code, verifier)
        again = _redeem(browser, code, verifier)
    assert first.status_code == 200
    granted = str(_claims(first.json()["access_token"])["scope"]).split()
    assert {"q2c:read", "ops:read"} <= set(granted)
    assert not any(s.endswith(":write") for s in granted)  # an auditor reads only
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_wrong_passwords_are_refused_then_throttled(idp_url: str, dev_credentials: DevCredentials) -> None:
    _, challenge = verifier_and_challenge()
    with httpx.Client(base_url=idp_url) as browser:
        login_id = login_form(browser, authorize_params(challenge))
        answers = [
            browser.post("/oauth2/login", data={"login_id": login_id, "username": "ana.de", "password": f"nope-{n}"})
            for n in range(3)
        ]
        blocked = browser.post(
            "/oauth2/login",
            data={"login_id": login_id, "username": "ana.de", "password": dev_credentials.passwords["ana.de"]},
        )
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert "Wrong username or password" in answers[0].text
    assert "location" not in answers[0].headers
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) > 0
    assert "location" not in blocked.headers


def test_the_login_form_refuses_a_post_without_the_browser_cookie(
    idp_url: str, dev_credentials: DevCredentials
) -> None:
    _, challenge = verifier_and_challenge()
    with httpx.Client(base_url=idp_url) as browser:
        login_id = login_form(browser, authorize_params(challenge))
        page = browser.get("/oauth2/authorize", params=authorize_params(challenge))
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<form", 1)[0].replace('charset="utf-8"', "")  # no external assets
    # A cross-site form post carries the login_id it scraped, but not the SameSite=Strict cookie.
    forged = httpx.post(
        f"{idp_url}/oauth2/login",
        data={"login_id": login_id, "username": "ana.de", "password": dev_credentials.passwords["ana.de"]},
    )
    assert forged.status_code == 403
    assert "location" not in forged.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"scope": "openid crm:write"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
    ],
    ids=["plain-pkce", "no-pkce", "implicit", "no-openid", "scope-not-the-clients", "silent"],
)
def test_bad_authorization_requests_go_back_to_the_client_with_an_error(
    idp_url: str, overrides: dict[str, str], error: str
) -> None:
    _, challenge = verifier_and_challenge()
    params = authorize_params(challenge, **overrides)
    response = httpx.get(f"{idp_url}/oauth2/authorize", params=params)
    back = redirect_query(response)
    assert back["error"] == error
    assert back["state"] == params["state"]
    assert back["iss"] == idp_url


def test_an_unregistered_redirect_uri_is_never_redirected_to(idp_url: str) -> None:
    _, challenge = verifier_and_challenge()
    response = httpx.get(
        f"{idp_url}/oauth2/authorize", params=authorize_params(challenge, redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text


def test_userinfo_refuses_a_client_token_and_a_forged_one(idp_url: str, dev_credentials: DevCredentials) -> None:
    machine = httpx.post(
        f"{idp_url}/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("demo", dev_credentials.client_secret("demo")),
    ).json()["access_token"]
    for token in (machine, machine[:-4] + "AAAA"):
        response = httpx.get(f"{idp_url}/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


def test_the_public_console_client_cannot_use_client_credentials(idp_url: str) -> None:
    response = httpx.post(f"{idp_url}/oauth2/token", data={"grant_type": "client_credentials", "client_id": CONSOLE})
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


def test_a_refresh_may_narrow_the_scope_but_not_widen_it(idp_url: str, dev_credentials: DevCredentials) -> None:
    tokens = sign_in(idp_url, "sam.us", dev_credentials.passwords["sam.us"])
    data = {"grant_type": "refresh_token", "client_id": CONSOLE, "refresh_token": tokens["refresh_token"]}
    wider = httpx.post(f"{idp_url}/oauth2/token", data={**data, "scope": "openid controls:write"})
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # The refused request did not spend the token: a narrowing refresh with it still works.
    narrower = httpx.post(f"{idp_url}/oauth2/token", data={**data, "scope": "openid q2c:read"})
    assert narrower.status_code == 200, narrower.text
    assert narrower.json()["scope"] == "openid q2c:read"
