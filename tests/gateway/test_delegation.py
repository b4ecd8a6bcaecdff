"""The gateway's token exchange: one IdP call per consumer token, shared and reused until near expiry."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.delegation import TOKEN_EXCHANGE, TokenExchanger
from servicekit import Unauthorized, UpstreamUnavailable


def _idp(calls: list[dict[str, str]], expires_in: int = 300, status: int = 200) -> httpx.AsyncClient:
    async def handler(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        calls.append(form)
        await asyncio.sleep(0.01)
        if status != 200:
            return httpx.Response(status, json={"error": "invalid_grant", "error_description": "expired"})
        return httpx.Response(200, json={"access_token": f"internal-{len(calls)}", "expires_in": expires_in})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_concurrent_and_repeated_exchanges_of_one_token_make_one_idp_call() -> None:
    calls: list[dict[str, str]] = []
    async with _idp(calls) as http:
        exchanger = TokenExchanger("http://idp/oauth2/token", "gateway", "s", "fig-process", http)
        first = await asyncio.gather(*(exchanger.exchange("consumer") for _ in range(5)))
        again = await exchanger.exchange("consumer")
    assert {token for token, _ in first} == {again[0]} == {"internal-1"}
    assert len(calls) == 1
    assert calls[0]["grant_type"] == TOKEN_EXCHANGE
    assert (calls[0]["subject_token"], calls[0]["audience"]) == ("consumer", "fig-process")


async def test_a_token_near_its_expiry_is_exchanged_again() -> None:
    calls: list[dict[str, str]] = []
    async with _idp(calls, expires_in=5) as http:
        exchanger = TokenExchanger("http://idp/oauth2/token", "gateway", "s", "fig-process", http, margin=10)
        await exchanger.exchange("consumer")
        await exchanger.exchange("consumer")
    assert len(calls) == 2


async def test_a_refused_subject_token_is_401_and_an_unreachable_idp_503() -> None:
    async with _idp([], status=400) as http:
        with pytest.raises(Unauthorized):
            await TokenExchanger("http://idp/oauth2/token", "gateway", "s", "fig-process", http).exchange("t")

    async def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        with pytest.raises(UpstreamUnavailable):
            await TokenExchanger("http://idp/oauth2/token", "gateway", "s", "fig-process", http).exchange("t")
