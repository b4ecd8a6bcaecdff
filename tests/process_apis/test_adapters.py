"""The httpx adapters: service token, context headers, strict decoding, problems to typed errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from decimal import Decimal

import httpx
import msgspec
import pytest

from contracts import CommittedBooking, CommittedBookingsLoad, CustomerUpsert, Money
from process_apis import ProcessSettings
from process_apis.adapters import open_system_clients
from process_apis.errors import DownstreamInvalid, DownstreamRejected, DownstreamUnavailable, OpportunityNotFound
from servicekit import correlation_id
from tests.process_apis.fakes import DEMO2, opportunity

Handler = Callable[[httpx.Request], httpx.Response]

SETTINGS = ProcessSettings(
    idp_url="http://idp.test",
    client_secret="adapter-test-secret",
    crm_url="http://crm.test",
    erp_url="http://erp.test",
    planning_url="http://planning.test",
    http_retries=0,
)


def with_token(api: Handler, seen: list[httpx.Request]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            seen.append(request)
            return httpx.Response(200, json={"access_token": "svc-token", "token_type": "Bearer", "expires_in": 300})
        return api(request)

    return handler


def problem(status: int, detail: str) -> httpx.Response:
    body = {"type": "https://fig.dev/problems/x", "title": "Refused", "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


async def test_crm_call_carries_token_and_correlation_id_and_decodes_the_opportunity() -> None:
    token_requests: list[httpx.Request] = []
    calls: list[httpx.Request] = []

    def crm(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=msgspec.json.encode(opportunity()))

    async with open_system_clients(SETTINGS, transport=httpx.MockTransport(with_token(crm, token_requests))) as sc:
        token = correlation_id.set("corr-42")
        try:
            found = await sc.crm.get_opportunity(DEMO2)
        finally:
            correlation_id.reset(token)
    assert found == opportunity()
    [call] = calls
    assert str(call.url) == f"http://crm.test/v1/opportunities/{DEMO2}"
    assert call.headers["authorization"] == "Bearer svc-token"
    assert call.headers["x-correlation-id"] == "corr-42"
    [token_request] = token_requests
    assert (
        token_request.headers["authorization"]
        == "Basic " + base64.b64encode(b"process-api:adapter-test-secret").decode()
    )
    form = dict(pair.split("=") for pair in token_request.content.decode().split("&"))
    assert form["scope"] == "crm%3Aread+crm%3Awrite+erp%3Aread+erp%3Awrite+planning%3Aread+planning%3Awrite"


@pytest.mark.parametrize(
    ("response", "error", "text"),
    [
        (problem(404, "no such opportunity"), OpportunityNotFound, "no such opportunity"),
        (problem(403, "token lacks crm:read"), DownstreamRejected, "token lacks crm:read"),
        (problem(503, "Salesforce unavailable"), DownstreamUnavailable, "Salesforce unavailable"),
        (problem(429, "slow down"), DownstreamUnavailable, "slow down"),
        (httpx.Response(200, json={"id": DEMO2}), DownstreamInvalid, "outside its contract"),
    ],
)
async def test_crm_answers_become_typed_errors(response: httpx.Response, error: type[Exception], text: str) -> None:
    transport = httpx.MockTransport(with_token(lambda _: response, []))
    async with open_system_clients(SETTINGS, transport=transport) as sc:
        with pytest.raises(error, match=text):
            await sc.crm.get_opportunity(DEMO2)


async def test_unreachable_system_api_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with open_system_clients(SETTINGS, transport=httpx.MockTransport(with_token(refuse, []))) as sc:
        with pytest.raises(DownstreamUnavailable, match="erp API unreachable") as caught:
            await sc.erp.get_sales_order("7000")
    assert caught.value.service == "erp"


async def test_unreachable_identity_provider_is_unavailable() -> None:
    def no_idp(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            raise httpx.ConnectError("connection refused", request=request)
        raise AssertionError("no call without a token")

    async with open_system_clients(SETTINGS, transport=httpx.MockTransport(no_idp)) as sc:
        with pytest.raises(DownstreamUnavailable, match="no service token"):
            await sc.crm.get_opportunity(DEMO2)


async def test_erp_upsert_sends_the_canonical_body_and_idempotency_key() -> None:
    calls: list[httpx.Request] = []

    def erp(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path.startswith("/v1/customers/"):
            body = {"id": "501", "name": "Thames Data Ltd", "subsidiary_id": "3", "currency": "GBP"}
            return httpx.Response(201, json={**body, "external_id": "SF-0018d00000DEMOBAAA"})
        return problem(422, "subsidiary 3 cannot sell item 102")

    command = CustomerUpsert(name="Thames Data Ltd", subsidiary_id="3", currency="GBP")
    async with open_system_clients(SETTINGS, transport=httpx.MockTransport(with_token(erp, []))) as sc:
        customer = await sc.erp.upsert_customer("SF-0018d00000DEMOBAAA", command, idempotency_key="q2c:x:resolve")
        assert customer.id == "501"
        load = CommittedBookingsLoad(
            bookings=[
                CommittedBooking(
                    booking_code="SO7000-1",
                    legal_entity="GB01",
                    period="2026-11",
                    product_code="FIG-SUPP",
                    amount=Money(amount=Decimal("3000.00"), currency="GBP"),
                )
            ]
        )
        with pytest.raises(DownstreamRejected, match="cannot sell item 102") as caught:
            await sc.planning.load_committed_bookings(load, idempotency_key="q2c:x:commit")
    assert caught.value.downstream_status == 422
    put = calls[0]
    assert (put.method, put.url.path) == ("PUT", "/v1/customers/SF-0018d00000DEMOBAAA")
    assert put.headers["idempotency-key"] == "q2c:x:resolve"
    assert json.loads(put.content) == {
        "name": "Thames Data Ltd",
        "subsidiary_id": "3",
        "currency": "GBP",
        "email": None,
        "region": None,
        "industry": None,
        "billing_country": None,
    }
    posted = json.loads(calls[1].content)
    assert posted["bookings"][0]["amount"] == {"amount": "3000.00", "currency": "GBP"}


async def test_erp_sales_order_is_decoded_strictly() -> None:
    line = {
        "item_id": "102",
        "quantity": "2",
        "unit_price": {"amount": "1500.00", "currency": "GBP"},
        "amount": {"amount": "3000.00", "currency": "GBP"},
    }
    order = {
        "id": "7001",
        "customer_id": "501",
        "subsidiary_id": "3",
        "currency": "GBP",
        "tran_date": "2026-11-20",
        "status": "pending_fulfillment",
        "status_code": "B",
        "booked": True,
        "total": {"amount": "3000.00", "currency": "GBP"},
        "external_id": f"SF-{DEMO2}",
        "lines": [line],
    }
    answers = iter([order, {**order, "lines": [{**line, "quantity": "0"}]}, {**order, "booked": "yes"}])
    transport = httpx.MockTransport(with_token(lambda _: httpx.Response(200, json=next(answers)), []))
    async with open_system_clients(SETTINGS, transport=transport) as sc:
        found = await sc.erp.get_sales_order("7001")
        assert (found.booked, found.lines[0].quantity, found.total.amount) == (True, Decimal("2"), Decimal("3000.00"))
        with pytest.raises(DownstreamInvalid, match="quantity"):
            await sc.erp.get_sales_order("7001")
        with pytest.raises(DownstreamInvalid, match="booked"):
            await sc.erp.get_sales_order("7001")
