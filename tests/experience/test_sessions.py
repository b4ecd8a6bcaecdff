"""Sessions in Redis, sign-in state and the console's start-up checks, without a browser."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar import Litestar, Request
from litestar import get as litestar_get
from litestar.testing import AsyncTestClient

from experience.api import ApiClient
from experience.app import create_app
from experience.auth import cookie_name
from experience.errors import ApiUnavailable, SessionRejected, SignInFailed
from experience.oidc import TokenSet
from experience.sessions import Session, SessionStore
from experience.settings import ConsoleSettings
from gateway.idp.clients import load_registry
from gateway.idp.devcredentials import ensure_dev_credentials
from servicekit.redis import RedisClient
from tests.support import running_server


def _session(created_at: float) -> Session:
    return Session(
        subject="ana.de",
        name="Ana Keller",
        roles=["ops-analyst"],
        legal_entities=["DE01"],
        scopes=["exceptions:read"],
        access_token="token",
        access_expires_at=created_at + 900,
        refresh_token=None,
        id_token="id",
        csrf="csrf",
        created_at=created_at,
    )


def _key_of(session_id: str) -> str:
    """Where the store keeps a session: under the SHA-256 of the cookie value, in its own hash slot."""
    return f"fig:console:session:{{{hashlib.sha256(session_id.encode()).hexdigest()}}}"


async def test_a_session_is_stored_under_a_hash_renewed_on_use_and_ends_at_its_maximum_age(
    redis: RedisClient,
) -> None:
    store = SessionStore(redis, idle_ttl=600, max_age=3600, login_ttl=60)
    session_id = await store.create(_session(time.time()))
    key = _key_of(session_id)
    assert await redis.exists(key) == 1  # stored under the hash of the cookie value ...
    assert await redis.exists(f"fig:console:session:{{{session_id}}}") == 0  # ... never the value itself
    await redis.expire(key, 5)
    loaded = await store.load(session_id)
    assert loaded is not None
    assert loaded.subject == "ana.de"
    assert await redis.ttl(key) > 500  # reading renewed the idle expiry

    old = await store.create(_session(time.time() - 3601))
    assert await store.load(old) is None
    assert await redis.exists(_key_of(old)) == 0  # the too-old one was removed


async def test_a_pending_sign_in_is_redeemed_once(redis: RedisClient) -> None:
    from experience.sessions import PendingLogin

    store = SessionStore(redis, idle_ttl=600, max_age=3600, login_ttl=60)
    pending = PendingLogin(verifier="v", nonce="n", next_path="/exceptions", browser="b")
    await store.begin_login("state-1", pending)
    assert await store.finish_login("state-1") == pending
    assert await store.finish_login("state-1") is None


#: A provider laid out as Keycloak lays out a realm: the console must follow its discovery document.
_REALM = "/realms/fig"


def _keycloak_like() -> Litestar:
    """A provider whose endpoints are not the dev IdP's paths, as its discovery document says."""

    @litestar_get(f"{_REALM}/.well-known/openid-configuration", sync_to_thread=False)
    def discovery(request: Request[Any, Any, Any]) -> dict[str, Any]:
        issuer = f"{request.base_url}".rstrip("/") + _REALM
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/protocol/openid-connect/auth",
            "token_endpoint": f"{issuer}/protocol/openid-connect/token",
            "jwks_uri": f"{issuer}/protocol/openid-connect/certs",
            "end_session_endpoint": f"{issuer}/protocol/openid-connect/logout",
            "code_challenge_methods_supported": ["plain", "S256"],
        }

    @litestar_get("/health/live", sync_to_thread=False)
    def live() -> str:
        return "ok"

    return Litestar([discovery, live])


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with running_server(_keycloak_like()) as url:
        yield url + _REALM


@pytest.fixture
async def console(redis_url: str, redis: RedisClient, provider: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    settings = ConsoleSettings(redis_url=redis_url, client_secret="s" * 32, idp_url=provider, token_issuer=provider)
    async with AsyncTestClient(create_app(settings), base_url="http://127.0.0.1:8500") as client:
        yield client


async def test_pages_send_a_person_without_a_session_to_sign_in(console: AsyncTestClient[Litestar]) -> None:
    page = await console.get("/exceptions", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next_path=/exceptions"
    forged = await console.post("/exceptions/exc-1/retry", data={"csrf_token": "x"}, follow_redirects=False)
    assert forged.status_code == 303  # no session: nothing is sent to the API
    stale = await console.get(
        "/", headers={"Cookie": f"{cookie_name(ConsoleSettings())}=not-a-session"}, follow_redirects=False
    )
    assert stale.headers["location"].startswith("/login")


async def test_sign_in_starts_pkce_at_the_idp_and_returns_only_to_a_local_path(
    console: AsyncTestClient[Litestar], redis: RedisClient, provider: str
) -> None:
    started = await console.get("/login", params={"next_path": "//evil.example/x"}, follow_redirects=False)
    assert started.status_code == 303
    target = urlsplit(started.headers["location"])
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    # Where the provider's discovery document says, not a path the console assumed.
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider}/protocol/openid-connect/auth"
    assert query["client_id"] == "console"
    assert query["redirect_uri"] == "http://127.0.0.1:8500/auth/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    cookie = started.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    pending = await SessionStore(redis, idle_ttl=1, max_age=1, login_ttl=1).finish_login(query["state"])
    assert pending is not None
    assert pending.next_path == "/"  # not the other site


async def test_a_callback_for_a_sign_in_this_browser_did_not_start_is_refused(
    console: AsyncTestClient[Litestar],
) -> None:
    # Login CSRF: a code planted through another person's link never becomes a session here.
    started = await console.get("/login", follow_redirects=False)
    state = parse_qs(urlsplit(started.headers["location"]).query)["state"][0]
    console.cookies.clear()
    answer = await console.get("/auth/callback", params={"code": "c", "state": state}, follow_redirects=False)
    assert answer.status_code == 400
    assert "not started in this browser" in answer.text
    assert "set-cookie" not in answer.headers


def test_the_session_cookie_is_secure_everywhere_but_loopback_plain_http() -> None:
    assert ConsoleSettings(public_url="http://127.0.0.1:8500").secure_cookies is False
    assert ConsoleSettings(public_url="https://console.example.com").secure_cookies is True
    assert cookie_name(ConsoleSettings(public_url="https://console.example.com")) == "__Host-fig_console"
    with pytest.raises(ValueError, match="FIG_PUBLIC_URL must be https"):
        create_app(ConsoleSettings(public_url="http://console.example.com", redis_url="redis://x", client_secret="s"))


def test_the_stack_registers_the_console_client_at_its_own_port(tmp_path: Path) -> None:
    first = ensure_dev_credentials(tmp_path, origins={"console": "http://127.0.0.1:18500"})
    client = load_registry(first.clients_path).get("console")
    assert client is not None
    assert client.redirect_uris == ["http://127.0.0.1:18500/auth/callback"]
    assert client.post_logout_redirect_uris == ["http://127.0.0.1:18500/"]
    moved = ensure_dev_credentials(tmp_path, origins={"console": "http://127.0.0.1:28500"})
    assert moved.client_secret("console") == first.client_secret("console")
    again = load_registry(moved.clients_path).get("console")
    assert again is not None
    assert again.redirect_uris == ["http://127.0.0.1:28500/auth/callback"]


class _Idp:
    """Stands in for the IdP's token endpoint: a rotation, or a refusal."""

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.presented: list[str] = []

    async def refresh(self, refresh_token: str) -> TokenSet:
        self.presented.append(refresh_token)
        if self.refuse:
            raise SignInFailed("The identity provider refused the sign-in (invalid_grant: revoked).")
        return TokenSet(access_token="fresh", expires_in=900, refresh_token="r2", scope="openid")


@pytest.mark.parametrize("refuse", [False, True], ids=["rotated", "revoked"])
async def test_an_expired_access_token_is_refreshed_and_a_revoked_sign_in_ends_the_session(
    console: AsyncTestClient[Litestar], redis: RedisClient, refuse: bool
) -> None:
    app = console.app
    store = SessionStore(redis, idle_ttl=1800, max_age=28800, login_ttl=600)  # the app's settings
    stale = _session(time.time())
    stale.access_expires_at = time.time() - 1
    stale.refresh_token = "r1"
    session_id = await store.create(stale)
    idp = _Idp(refuse)
    app.state.oidc = idp
    answer = await console.get("/audit", headers={"Cookie": f"fig_console={session_id}"}, follow_redirects=False)
    assert idp.presented == ["r1"]
    if refuse:
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        assert await store.load(session_id) is None
    else:
        # The gateway of this test is unreachable: an error page, after the session got its new tokens.
        assert answer.status_code == 502
        assert "could not be reached" in answer.text
        refreshed = await store.load(session_id)
        assert refreshed is not None
        assert (refreshed.access_token, refreshed.refresh_token) == ("fresh", "r2")


async def test_pages_carry_a_strict_content_security_policy_and_assets_come_from_the_console(
    console: AsyncTestClient[Litestar], provider: str
) -> None:
    refused = await console.get("/auth/callback")  # an error page, no session needed
    assert refused.status_code == 400
    policy = refused.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    origin = provider.removesuffix(_REALM)
    assert f"form-action 'self' {origin};" in policy  # forms may go to the provider's origin only
    assert refused.headers["cache-control"] == "no-store"
    for asset in ("/static/console.css", "/static/console.js"):
        served = await console.get(asset)
        assert served.status_code == 200, asset
        assert "no-store" not in served.headers.get("cache-control", "")
    assert 'href="/static/console.css"' in refused.text


async def test_a_token_the_gateway_refuses_asks_for_a_new_sign_in_and_a_failing_gateway_is_named() -> None:
    def gateway(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/ops/summary":
            return httpx.Response(401, json={"title": "Unauthorized", "detail": "token revoked"})
        return httpx.Response(503, json={"title": "Unavailable"})

    async with httpx.AsyncClient(base_url="http://gateway", transport=httpx.MockTransport(gateway)) as http:
        api = ApiClient(http)
        with pytest.raises(SessionRejected, match="sign in again"):
            await api.get("/v1/ops/summary", "token")
        with pytest.raises(ApiUnavailable, match="503"):
            await api.get("/v1/exceptions", "token")
