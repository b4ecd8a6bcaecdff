"""The typed client (contracts.client) against a scripted server on a real socket.

The scripted server answers what each test queues (503 with Retry-After, 401, problem+json,
Deprecation headers), so each client behaviour is shown on the wire. The client against the
real stack is in test_contract_suite.py.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from litestar import Litestar, Request, Response, get, post
from litestar.params import FromPath

from contracts.client import (
    ApiDeprecationWarning,
    AsyncQuoteToCashClient,
    ClientSettings,
    NotFound,
    QuoteToCashClient,
    RateLimited,
    ServerError,
    TransportError,
    Unprocessable,
)
from contracts.client._core import retry_delay
from contracts.money import Money
from tests.support import running_server

RUN_V2: dict[str, Any] = {
    "id": "q2c-0068d00000DEMO2AAA",
    "opportunity_id": "0068d00000DEMO2AAA",
    "workflow": "quote_to_cash",
    "state": "received",
    "status": "running",
    "mapping_version": "default-v1",
    "created_at": "2026-11-27T10:00:00Z",
    "updated_at": "2026-11-27T10:00:00Z",
    "lines": [
        {
            "line_number": 1,
            "product_code": "FIG-SUPP",
            "quantity": "2",
            "unit_price": {"amount": "1500.00", "currency": "GBP"},
            "amount": {"amount": "3000.00", "currency": "GBP"},
        }
    ],
    "totals": [{"amount": "3000.00", "currency": "GBP"}],
    "gates": [],
    "erp": {},
    "a_field_added_later": {"clients": "ignore it"},
}
PROBLEM_JSON = "application/problem+json"


@dataclass
class Script:
    """Queued answers (status, headers, body) per `METHOD path`, and every request seen."""

    answers: dict[str, list[tuple[int, dict[str, str], Any]]] = field(default_factory=dict)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    tokens_issued: int = 0
    token_ttl: int = 300

    def queue(self, key: str, status: int, body: Any, **headers: str) -> None:
        self.answers.setdefault(key, []).append((status, headers, body))

    def answer(self, key: str, request: Request[Any, Any, Any]) -> Response[Any]:
        self.seen.append((key, dict(request.headers)))
        status, headers, body = self.answers[key].pop(0) if self.answers.get(key) else (200, {}, RUN_V2)
        media = PROBLEM_JSON if status >= 400 else "application/json"
        return Response(body, status_code=status, headers=headers, media_type=media)

    def headers_of(self, key: str) -> list[dict[str, str]]:
        return [h for k, h in self.seen if k == key]


SCRIPT = Script()
START = "POST /v2/quote-to-cash/runs"


def _problem(status: int, slug: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"https://fig.dev/problems/{slug}", "title": slug, "status": status, "detail": slug, **extra}


@post("/oauth2/token", sync_to_thread=False, status_code=200)
def token(request: Request[Any, Any, Any]) -> dict[str, Any]:
    assert request.headers.get("authorization", "").startswith("Basic ")
    SCRIPT.tokens_issued += 1
    return {"access_token": f"tok-{SCRIPT.tokens_issued}", "token_type": "Bearer", "expires_in": SCRIPT.token_ttl}


@post("/v2/quote-to-cash/runs", sync_to_thread=False)
def start(request: Request[Any, Any, Any]) -> Response[Any]:
    return SCRIPT.answer(START, request)


@get("/v2/quote-to-cash/runs/{run_id:str}", sync_to_thread=False)
def read(run_id: FromPath[str], request: Request[Any, Any, Any]) -> Response[Any]:
    return SCRIPT.answer(f"GET {run_id}", request)


@get("/health/live", sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_server(Litestar([token, start, read, live], debug=False, logging_config=None)) as base:
        yield base


@pytest.fixture
def script() -> Script:
    SCRIPT.answers.clear()
    SCRIPT.seen.clear()
    SCRIPT.tokens_issued = 0
    SCRIPT.token_ttl = 300
    return SCRIPT


def client(server: str, **overrides: Any) -> QuoteToCashClient[Any]:
    settings: dict[str, Any] = {
        "base_url": server,
        "token_url": f"{server}/oauth2/token",
        "client_id": "demo",
        "client_secret": "scripted-test-secret",
        "backoff": 0.01,
        **overrides,
    }
    return QuoteToCashClient.v2(**settings)


def test_start_run_decodes_the_pinned_version_with_money_as_decimal(server: str, script: Script) -> None:
    with client(server) as c:
        run = c.start_run("0068d00000DEMO2AAA")

    assert run.totals == [Money(amount=Decimal("3000.00"), currency="GBP")]
    assert run.lines[0].quantity == Decimal(2)
    (sent,) = script.headers_of(START)
    assert sent["authorization"] == "Bearer tok-1"
    assert sent["idempotency-key"]
    assert sent["x-correlation-id"]


def test_a_material_post_is_retried_with_the_same_idempotency_key_honouring_retry_after(
    server: str, script: Script
) -> None:
    script.queue(START, 503, _problem(503, "upstream-unavailable"), **{"Retry-After": "0.2"})
    script.queue(START, 202, RUN_V2)

    started = time.monotonic()
    with client(server) as c:
        c.start_run("0068d00000DEMO2AAA", idempotency_key="order-42", correlation_id="corr-1")

    assert time.monotonic() - started >= 0.2
    first, second = script.headers_of(START)
    assert first["idempotency-key"] == second["idempotency-key"] == "order-42"
    assert first["x-correlation-id"] == second["x-correlation-id"] == "corr-1"


def test_the_callers_correlation_id_is_propagated_to_every_call(server: str, script: Script) -> None:
    current = {"id": "txn-77"}
    with client(server, correlation=lambda: current["id"]) as c:
        c.get_run("r1")
        current["id"] = "txn-78"
        c.start_run("0068d00000DEMO2AAA")
        c.get_run("r2", correlation_id="explicit")
    assert [h["x-correlation-id"] for _, h in script.seen] == ["txn-77", "txn-78", "explicit"]


def test_a_generated_idempotency_key_is_kept_across_retries_and_new_per_call(server: str, script: Script) -> None:
    script.queue(START, 502, _problem(502, "upstream-error"))
    with client(server) as c:
        c.start_run("0068d00000DEMO2AAA")
        c.start_run("0068d00000DEMO2AAA")

    keys = [h["idempotency-key"] for h in script.headers_of(START)]
    assert len(keys) == 3
    assert keys[0] == keys[1] != keys[2]


def test_a_get_is_retried_but_a_business_refusal_is_not(server: str, script: Script) -> None:
    script.queue("GET q2c-1", 504, _problem(504, "upstream-timeout"))
    script.queue("GET q2c-1", 200, RUN_V2)
    script.queue(START, 422, _problem(422, "opportunity-not-approved", correlation_id="c-9"))
    with client(server) as c:
        assert c.get_run("q2c-1").id == RUN_V2["id"]
        with pytest.raises(Unprocessable) as refused:
            c.start_run("0068d00000DEMO1AAA")

    assert len(script.headers_of("GET q2c-1")) == 2
    assert len(script.headers_of(START)) == 1
    assert refused.value.type == "https://fig.dev/problems/opportunity-not-approved"
    assert refused.value.correlation_id == "c-9"


def test_retries_stop_after_the_budget_with_a_typed_error(server: str, script: Script) -> None:
    for _ in range(3):
        script.queue("GET q2c-2", 503, _problem(503, "upstream-unavailable"))
    with client(server, retries=2) as c, pytest.raises(ServerError) as down:
        c.get_run("q2c-2")

    assert down.value.status == 503
    assert len(script.headers_of("GET q2c-2")) == 3


def test_a_retry_after_beyond_the_clients_patience_is_not_waited_for(server: str, script: Script) -> None:
    script.queue("GET q2c-3", 429, _problem(429, "rate-limited"), **{"Retry-After": "7"})
    started = time.monotonic()
    with client(server, max_backoff=1.0) as c, pytest.raises(RateLimited) as limited:
        c.get_run("q2c-3")

    assert time.monotonic() - started < 2
    assert limited.value.retry_after == pytest.approx(7.0)
    assert len(script.headers_of("GET q2c-3")) == 1


def test_problem_json_becomes_a_typed_not_found(server: str, script: Script) -> None:
    script.queue("GET nope", 404, _problem(404, "run-not-found"))
    with client(server) as c, pytest.raises(NotFound) as missing:
        c.get_run("nope")
    assert missing.value.problem is not None
    assert missing.value.problem.type.endswith("/run-not-found")


def test_an_expired_token_is_refreshed_before_the_call_and_a_401_refreshes_once(server: str, script: Script) -> None:
    script.token_ttl = 1  # shorter than the client's skew: every call needs a fresh token
    with client(server, token_skew=30.0) as c:
        c.get_run("a")
        c.get_run("b")
    assert [h["authorization"] for _, h in script.seen] == ["Bearer tok-1", "Bearer tok-2"]

    script.seen.clear()
    script.tokens_issued = 0
    script.token_ttl = 300
    script.queue("GET c", 401, _problem(401, "invalid-token"))
    with client(server) as c:
        c.get_run("c")
    assert [h["authorization"] for _, h in script.seen] == ["Bearer tok-1", "Bearer tok-2"]


def test_deprecation_and_sunset_headers_warn_once_per_operation(server: str, script: Script) -> None:
    sunset = "Mon, 31 May 2027 00:00:00 GMT"
    for run_id in ("d1", "d2"):
        script.queue(f"GET {run_id}", 200, RUN_V2, Deprecation="@1795737600", Sunset=sunset)
    with client(server) as c, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c.get_run("d1")
        c.get_run("d2")
    deprecations = [w for w in caught if issubclass(w.category, ApiDeprecationWarning)]
    assert len(deprecations) == 1
    assert sunset in str(deprecations[0].message)
    assert issubclass(ApiDeprecationWarning, DeprecationWarning)


def test_no_answer_is_a_transport_error_after_the_safe_retries() -> None:
    with (
        QuoteToCashClient.v2(base_url="http://127.0.0.1:9", token="fixed", retries=1, backoff=0.01) as c,
        pytest.raises(TransportError, match="GET /v2/quote-to-cash/runs/x"),
    ):
        c.get_run("x")


def test_only_safe_requests_are_repeated() -> None:
    settings = ClientSettings(base_url="http://x", backoff=0.5)
    assert retry_delay(settings, "POST", {}, 0, status=503) is None  # a POST without key may have taken effect
    assert retry_delay(settings, "POST", {"Idempotency-Key": "k"}, 0, status=503) == 0.5
    assert retry_delay(settings, "GET", {}, 1, status=None) == 1.0  # connect failure, doubled backoff
    assert retry_delay(settings, "GET", {}, 0, status=500) is None  # a bug is not retried
    assert retry_delay(settings, "GET", {}, 0, status=404) is None


async def test_the_async_client_behaves_the_same(server: str, script: Script) -> None:
    script.queue(START, 503, _problem(503, "upstream-unavailable"), **{"Retry-After": "0"})
    async with AsyncQuoteToCashClient.v2(
        base_url=server,
        token_url=f"{server}/oauth2/token",
        client_id="demo",
        client_secret="scripted-test-secret",
        backoff=0.01,
    ) as c:
        run = await c.start_run("0068d00000DEMO2AAA", correlation_id="corr-async")
        script.queue("GET missing", 404, _problem(404, "run-not-found"))
        with pytest.raises(NotFound):
            await c.get_run("missing")

    assert run.totals[0].amount == Decimal("3000.00")
    first, second = script.headers_of(START)
    assert first["idempotency-key"] == second["idempotency-key"]
    assert second["x-correlation-id"] == "corr-async"
    assert script.tokens_issued == 1
