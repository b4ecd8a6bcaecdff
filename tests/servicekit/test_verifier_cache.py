"""The JWKS verifier checks a token's signature once, until it expires; failures never stick."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from servicekit.auth import JWKSVerifier, TokenClaims
from servicekit.errors import Unauthorized
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
