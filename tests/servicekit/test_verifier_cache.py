"""The JWKS verifier checks a token's signature once, until it expires or its key set does; failures never stick."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from litestar import Litestar, Response, get

from servicekit.auth import JWKSVerifier, TokenClaims, cache_lifetime
from servicekit.errors import Unauthorized
from tests.support import running_server
from tests.tokens import TestIssuer


class _Counting(JWKSVerifier):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.checked: list[str] = []

    async def check(self, token: str) -> TokenClaims:
        self.checked.append(token)
        return await super().check(token)


async def test_a_verified_token_is_checked_once_and_a_failed_one_every_time() -> None:
    issuer = TestIssuer()
    with issuer.serve() as url:
        async with httpx.AsyncClient() as http:
            verifier = _Counting(f"{url}/.well-known/jwks.json", issuer=issuer.issuer, audience="fig", http=http)
            good = issuer.mint(["erp:read"])
            first = await verifier.verify(good)
            assert await verifier.verify(good) is first
            expired = issuer.mint(["erp:read"], ttl=-3600)
            for _ in range(2):
                with pytest.raises(Unauthorized):
                    await verifier.verify(expired)
            assert verifier.checked == [good, expired, expired]


async def test_a_cached_token_is_checked_again_after_the_ttl_and_not_at_all_with_no_cache() -> None:
    issuer = TestIssuer()
    with issuer.serve() as url:
        async with httpx.AsyncClient() as http:
            jwks = f"{url}/.well-known/jwks.json"
            token = issuer.mint(["erp:read"])
            short = _Counting(jwks, issuer=issuer.issuer, audience="fig", http=http, cache_ttl=0.05)
            await short.verify(token)
            await asyncio.sleep(0.06)
            await short.verify(token)
            assert short.checked == [token, token]
            none = _Counting(jwks, issuer=issuer.issuer, audience="fig", http=http, cache_ttl=0)
            await none.verify(token)
            await none.verify(token)
            assert none.checked == [token, token]


class _RotatingJwks:
    """A JWKS endpoint whose key set a test changes, with the `Cache-Control` it is served with."""

    def __init__(self, cache_control: str) -> None:
        self.cache_control = cache_control
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0

    def app(self) -> Litestar:
        @get("/.well-known/jwks.json", sync_to_thread=False)
        def jwks() -> Response[dict[str, Any]]:
            self.fetches += 1
            return Response({"keys": list(self.keys)}, headers={"Cache-Control": self.cache_control})

        @get("/health/live", sync_to_thread=False)
        def live() -> dict[str, str]:
            return {"status": "ok"}

        return Litestar([jwks, live])


async def _refused_within(verifier: JWKSVerifier, token: str, seconds: float) -> bool:
    """Whether `token` is refused within `seconds` (asked every 50 ms: the refusal is the signal)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await verifier.verify(token)
        except Unauthorized:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_key_that_left_the_jwks_stops_verifying_within_the_sets_max_age() -> None:
    old, new = TestIssuer(), TestIssuer()
    served = _RotatingJwks("public, max-age=1")
    served.keys = [*old.jwks()["keys"], *new.jwks()["keys"]]
    with running_server(served.app()) as url:
        async with httpx.AsyncClient() as http:
            # The configured bound (300 s) is far above the response's max-age: the max-age rules.
            verifier = JWKSVerifier(
                f"{url}/.well-known/jwks.json",
                issuer=old.issuer,
                audience="fig",
                http=http,
                min_refresh_interval=0.1,
                max_keys_age=300,
            )
            cached = old.mint(["erp:read"])
            await verifier.verify(cached)
            served.keys = new.jwks()["keys"]  # the old key's grace period is over
            # A token minted with the retired key afterwards, and one verified (cached) before.
            assert await _refused_within(verifier, old.mint(["erp:read"], subject="late"), 3.0)
            assert await _refused_within(verifier, cached, 0.5)
            assert (await verifier.verify(new.mint(["erp:read"]))).scopes == {"erp:read"}


async def test_the_configured_maximum_bounds_a_long_max_age_and_an_empty_set_retires_every_key() -> None:
    issuer = TestIssuer()
    served = _RotatingJwks("public, max-age=86400")
    served.keys = issuer.jwks()["keys"]
    with running_server(served.app()) as url:
        async with httpx.AsyncClient() as http:
            verifier = JWKSVerifier(
                f"{url}/.well-known/jwks.json",
                issuer=issuer.issuer,
                audience="fig",
                http=http,
                min_refresh_interval=0.1,
                max_keys_age=0.5,
            )
            await verifier.verify(issuer.mint(["erp:read"]))
            served.keys = []
            assert await _refused_within(verifier, issuer.mint(["erp:read"], subject="late"), 3.0)


def test_cache_lifetime_reads_max_age_and_honours_no_store() -> None:
    assert cache_lifetime("public, max-age=60", default=300, maximum=300) == 60
    assert cache_lifetime("max-age=600", default=300, maximum=120) == 120
    assert cache_lifetime("no-store", default=300, maximum=300) == 0
    assert cache_lifetime(None, default=300, maximum=300) == 300
