"""The policies' decisions one by one, without a server: fast enough to run against every mutant.

Each test drives a real policy with a real `Exchange` on the route table compiled from the
synthetic `ledger` contract (tests/gateway/ledger.py) and asserts what the caller would get: the
problem (status, slug, detail, headers) or the request passing with what the policy filled in.
Redis and the issuer are replaced by recording fakes (the policies' Redis behaviour is covered with
real Redis in test_policies.py); `tests/contracts/test_mutants.py` runs these tests against every
mutant of the policy modules.
"""

from __future__ import annotations

import hashlib
import json
import logging
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.catalogue import RouteTable, load_documents
from gateway.config import parse_config
from gateway.errors import ConfigError, Gone, MethodNotAllowed
from gateway.exchange import Exchange
from gateway.policies import (
    AuthenticationPolicy,
    EntityPolicy,
    IdempotencyPolicy,
    ScopePolicy,
    VerifiedTokenCache,
    VersionPolicy,
)
from gateway.policies.idempotency import final
from gateway.runtime import Runtime
from servicekit import ProblemError, TokenClaims
from servicekit.slowbody import BodyWatch
from tests.gateway.ledger import DOCUMENT, LEDGER_CONFIG

CONFIG = parse_config(LEDGER_CONFIG.replace("LIMIT", "5"))
ISSUER = "https://idp.test"


def _runtime(document: dict[str, Any] = DOCUMENT, config_text: str = LEDGER_CONFIG, verifiers: Any = None) -> Runtime:
    config = parse_config(config_text.replace("LIMIT", "5"))
    # Through JSON text, as the gateway reads its documents (no interned literals).
    document = json.loads(json.dumps(document))
    return Runtime(config, RouteTable(config, {"process": [document]}), verifiers or {}, {})


RUNTIME = _runtime()


def _claims(client: str = "demo", scopes: tuple[str, ...] = (), entities: tuple[str, ...] = ()) -> TokenClaims:
    return TokenClaims(
        subject="someone",
        client_id=client,
        scopes=frozenset(scopes),
        legal_entities=frozenset(entities),
        expires_at=4_000_000_000,
        raw={},
    )


def _exchange(
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    claims: TokenClaims | None = None,
    runtime: Runtime = RUNTIME,
    route: bool = True,
) -> Exchange:
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Any:
        return messages.pop(0)

    # A new string, as a server decodes it from the request line (never an interned literal).
    method = method.encode().decode()
    scope: Any = {"type": "http", "method": method, "headers": headers or [], "query_string": query}
    exchange = Exchange(
        scope, receive, path, path, "corr", runtime=runtime, max_body=1 << 20, watch=BodyWatch(5.0, 5.0)
    )
    exchange.claims = claims
    if route:
        exchange.route, exchange.operation, exchange.path_params = runtime.routes.resolve(method, path)
    return exchange


async def _refused(policy: Any, exchange: Exchange) -> ProblemError:
    with pytest.raises(ProblemError) as raised:
        await policy.apply(exchange)
    return raised.value


# --- catalogue: operations, routes and their lifecycle headers ------------------------------------


def _operation(security: list[dict[str, list[str]]] | None) -> Any:
    spec: dict[str, Any] = {"operationId": "probe", "responses": {"200": {"description": "ok"}}}
    if security is not None:
        spec["security"] = security
    document = {"openapi": "3.1.0", "paths": {"/v3/ledger/probe": {"get": spec}}}
    return _runtime(document).routes.resolve("GET", "/v3/ledger/probe")[1]


def test_an_operation_without_security_needs_no_scope() -> None:
    assert _operation(None).scope_ok(frozenset())
    assert _operation([]).scope_ok(frozenset({"anything"}))


def test_every_scope_of_one_requirement_is_needed_and_exactly_those_suffice() -> None:
    operation = _operation([{"bearer": ["ledger:write", "ledger:close"]}, {"other": ["ledger:admin"]}])
    assert operation.scope_ok(frozenset({"ledger:write", "ledger:close"}))
    assert operation.scope_ok(frozenset({"ledger:write", "ledger:close", "ledger:read"}))
    assert operation.scope_ok(frozenset({"ledger:admin"}))
    assert not operation.scope_ok(frozenset({"ledger:write"}))
    assert not operation.scope_ok(frozenset({"ledger:close", "ledger:read"}))
    assert not operation.scope_ok(frozenset())


def test_a_deprecated_route_carries_deprecation_sunset_and_successor_headers() -> None:
    route, _, _ = RUNTIME.routes.resolve("GET", "/v2/ledger/entries")
    version = route.version
    assert version.deprecated_at is not None
    assert version.sunset_at is not None
    assert route.key == "ledger:v2"
    assert route.deprecation_headers == [
        (b"deprecation", f"@{int(version.deprecated_at.timestamp())}".encode()),
        (b"sunset", format_datetime(version.sunset_at, usegmt=True).encode()),
        (b"link", b'</v3/ledger>; rel="successor-version"'),
    ]


def test_an_active_route_carries_no_lifecycle_headers_and_a_retired_one_only_its_successor() -> None:
    active, operation, _ = RUNTIME.routes.resolve("GET", "/v3/ledger/entries")
    assert active.deprecation_headers == []
    assert operation is not None
    assert operation.operation_id == "listEntriesV3"
    retired, operation, params = RUNTIME.routes.resolve("GET", "/v1/ledger/entries")
    assert (operation, params) == (None, {})
    assert retired.deprecation_headers == [(b"link", b'</v3/ledger>; rel="successor-version"')]


def test_operations_resolve_by_method_and_template_with_their_path_parameters() -> None:
    _, operation, params = RUNTIME.routes.resolve("GET", "/v3/ledger/entities/DE01/balance")
    assert operation is not None
    assert operation.operation_id == "getBalance"
    assert params == {"legal_entity": "DE01"}
    assert operation.entity_params == frozenset({("path", "legal_entity")})
    with pytest.raises(MethodNotAllowed):
        RUNTIME.routes.resolve("DELETE", "/v3/ledger/entities/DE01/balance")
    bad = ("/v3/ledger/entities/../balance", "/v3/ledger/entities/./balance", "/v3/ledgerx/entries", "/v3/ledger")
    # A path that only starts like a retired route's base is no request for it (404, not 410).
    for path in (*bad, "/v1/ledgerx/entries", "/v1/ledger-old/entries"):
        with pytest.raises(ProblemError) as raised:
            RUNTIME.routes.resolve("GET", path)
        assert raised.value.problem_slug == "unknown-route"


def test_operations_know_their_material_marker_bodies_and_query_entities() -> None:
    _, journal, _ = RUNTIME.routes.resolve("POST", "/v3/ledger/journals")
    assert journal is not None
    assert journal.material
    assert journal.body_required
    assert set(journal.bodies) == {"application/json"}
    assert journal.bodies["application/json"] is not None
    assert journal.scopes == (frozenset({"ledger:write"}),)
    _, notes, _ = RUNTIME.routes.resolve("POST", "/v3/ledger/notes")
    assert notes is not None
    assert not notes.material
    assert not notes.body_required
    assert notes.bodies == {"text/plain": None}
    _, entries, _ = RUNTIME.routes.resolve("GET", "/v3/ledger/entries")
    assert entries is not None
    assert entries.entity_params == frozenset({("query", "legal_entity")})
    assert 201 in journal.responses
    assert 200 not in entries.responses


# --- scopes ---------------------------------------------------------------------------------------


async def test_no_claims_or_no_route_is_left_to_the_other_policies() -> None:
    anonymous = _exchange("GET", "/v3/ledger/entries")
    await ScopePolicy().apply(anonymous)
    assert anonymous.client is None
    unrouted = _exchange("GET", "/v3/ledger/entries", claims=_claims("nobody"), route=False)
    await ScopePolicy().apply(unrouted)
    assert unrouted.client is None


async def test_an_unregistered_client_is_403_unknown_client() -> None:
    problem = await _refused(ScopePolicy(), _exchange("GET", "/v3/ledger/entries", claims=_claims("nobody")))
    assert (problem.status, problem.problem_slug) == (403, "unknown-client")
    assert "'nobody'" in problem.detail


async def test_a_version_the_client_may_not_call_is_403_api_not_allowed() -> None:
    exchange = _exchange("GET", "/v2/ledger/entries", claims=_claims("demo-reader", ("ledger:read",)))
    problem = await _refused(ScopePolicy(), exchange)
    assert (problem.status, problem.problem_slug) == (403, "api-not-allowed")
    assert problem.detail == "Client 'demo-reader' may not call ledger v2."


async def test_a_token_with_every_required_scope_passes_and_the_client_is_known() -> None:
    exchange = _exchange(
        "POST", "/v3/ledger/periods/2026-11/close", claims=_claims(scopes=("ledger:write", "ledger:close"))
    )
    await ScopePolicy().apply(exchange)
    assert exchange.client is not None
    assert exchange.client.client_id == "demo"


async def test_a_missing_scope_is_403_naming_only_the_missing_ones() -> None:
    exchange = _exchange(
        "POST", "/v3/ledger/periods/2026-11/close", claims=_claims(scopes=("ledger:read", "ledger:write"))
    )
    problem = await _refused(ScopePolicy(), exchange)
    assert (problem.status, problem.problem_slug) == (403, "insufficient-scope")
    assert problem.detail == "The token lacks the scope(s) ledger:close that closePeriod needs."
    assert problem.extensions == {"required_scopes": ["ledger:close", "ledger:write"]}


@pytest.mark.parametrize(
    ("security", "granted", "closest"),
    [
        ([["s:a", "s:b", "s:c", "s:d", "s:e"], ["s:f"]], ("s:a", "s:b", "s:p", "s:q"), ["s:f"]),
        ([["s:d", "s:e"], ["s:a", "s:c"]], ("s:a", "s:x"), ["s:a", "s:c"]),
    ],
)
async def test_the_refusal_names_the_requirement_closest_to_what_the_token_holds(
    security: list[list[str]], granted: tuple[str, ...], closest: list[str]
) -> None:
    requirements = [{f"scheme{n}": scopes} for n, scopes in enumerate(security)]
    runtime = _runtime({"openapi": "3.1.0", "paths": {"/v3/ledger/probe": {"get": {"security": requirements}}}})
    exchange = _exchange("GET", "/v3/ledger/probe", claims=_claims(scopes=granted), runtime=runtime)
    problem = await _refused(ScopePolicy(), exchange)
    assert problem.extensions == {"required_scopes": closest}


# --- legal entities -------------------------------------------------------------------------------

JSON = [(b"content-type", b"application/json")]


def _journal(**extra: Any) -> bytes:
    return json.dumps({"amount": "1.00", "lines": [{"account": "4000"}], **extra}).encode()


@pytest.mark.parametrize(
    ("method", "path", "query", "body"),
    [
        ("GET", "/v3/ledger/entries", b"legal_entity=FR01", b""),
        ("GET", "/v3/ledger/entries", b"limit=5&legal_entity=DE01&legal_entity=FR01", b""),
        ("GET", "/v3/ledger/entities/FR01/balance", b"", b""),
        ("POST", "/v3/ledger/journals", b"", _journal(legal_entity="FR01")),
        ("POST", "/v3/ledger/journals", b"", _journal(legal_entity="DE01", lines=[{"legal_entity": "FR01"}])),
    ],
    ids=["query", "second-query-value", "path", "body", "nested-body"],
)
async def test_an_entity_the_client_is_not_cleared_for_is_403_wherever_it_is_named(
    method: str, path: str, query: bytes, body: bytes
) -> None:
    exchange = _exchange(method, path, query=query, body=body, headers=JSON, claims=_claims(entities=("DE01",)))
    problem = await _refused(EntityPolicy(), exchange)
    assert (problem.status, problem.problem_slug) == (403, "entity-not-allowed")
    assert problem.extensions == {"legal_entities": ["FR01"]}
    assert problem.detail == "Client 'demo' may not act for legal entity FR01."


async def test_the_client_registry_narrows_what_the_token_allows() -> None:
    claims = _claims(entities=("DE01", "FR01", "US01"))
    client = RUNTIME.clients["demo"]  # registered for US01 and DE01 only
    refused = _exchange("GET", "/v3/ledger/entities/FR01/balance", claims=claims)
    refused.client = client
    problem = await _refused(EntityPolicy(), refused)
    assert problem.extensions == {"legal_entities": ["FR01"]}
    allowed = _exchange("GET", "/v3/ledger/entities/US01/balance", claims=claims)
    allowed.client = client
    await EntityPolicy().apply(allowed)
    unlisted = _exchange("GET", "/v3/ledger/entities/FR01/balance", claims=claims)
    unlisted.client = RUNTIME.clients["demo-reader"]  # no list: the token decides
    await EntityPolicy().apply(unlisted)


async def test_only_the_documented_parameter_and_json_bodies_name_entities() -> None:
    claims = _claims(entities=("DE01",))
    cases = [
        _exchange("GET", "/v3/ledger/entries", query=b"legal_entity=DE01&a=FR01&other=FR01", claims=claims),
        # A GET body is no part of its contract.
        _exchange(
            "GET",
            "/v3/ledger/entries",
            query=b"legal_entity=DE01",
            headers=JSON,
            body=_journal(legal_entity="FR01"),
            claims=claims,
        ),
        _exchange(
            "POST",
            "/v3/ledger/journals",
            headers=[(b"content-type", b"text/plain")],
            body=_journal(legal_entity="FR01"),
            claims=claims,
        ),
        _exchange(
            "POST",
            "/v3/ledger/journals",
            headers=[(b"content-type", b"application/csv")],
            body=_journal(legal_entity="FR01"),
            claims=claims,
        ),
        # An operation that documents no body is not judged by one.
        _exchange(
            "POST", "/v3/ledger/periods/2026-11/close", headers=JSON, body=_journal(legal_entity="FR01"), claims=claims
        ),
        _exchange(
            "POST",
            "/v3/ledger/journals",
            headers=JSON,
            body=_journal(legal_entity="DE01", note={"legal_entity": 7}),
            claims=claims,
        ),
    ]
    for exchange in cases:
        await EntityPolicy().apply(exchange)


@pytest.mark.parametrize(
    "media", [b"application/json; charset=utf-8", b"Application/JSON", b"application/vnd.fig+json"]
)
async def test_every_json_media_type_is_read_for_entities(media: bytes) -> None:
    exchange = _exchange(
        "POST",
        "/v3/ledger/journals",
        headers=[(b"content-type", media)],
        body=_journal(legal_entity="FR01"),
        claims=_claims(entities=("DE01",)),
    )
    assert (await _refused(EntityPolicy(), exchange)).problem_slug == "entity-not-allowed"


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"legal_entity": "FR01"}
    for _ in range(depth):
        value = {"x": value}
    return value


async def test_entities_are_found_to_the_documented_depth_of_eight_levels() -> None:
    claims = _claims(entities=("DE01",))
    deep = _exchange("POST", "/v3/ledger/journals", headers=JSON, body=json.dumps(_nested(8)).encode(), claims=claims)
    assert (await _refused(EntityPolicy(), deep)).problem_slug == "entity-not-allowed"
    listed = _exchange(
        "POST", "/v3/ledger/journals", headers=JSON, body=json.dumps([[_nested(6)]]).encode(), claims=claims
    )
    assert (await _refused(EntityPolicy(), listed)).problem_slug == "entity-not-allowed"
    for too_deep in (_nested(9), [[_nested(7)]]):
        deeper = _exchange(
            "POST", "/v3/ledger/journals", headers=JSON, body=json.dumps(too_deep).encode(), claims=claims
        )
        await EntityPolicy().apply(deeper)


async def test_an_entity_in_the_path_and_another_in_the_query_are_both_checked() -> None:
    parameters = [{"name": "legal_entity", "in": where, "schema": {"type": "string"}} for where in ("path", "query")]
    operation = {"security": [], "parameters": parameters}
    runtime = _runtime({"openapi": "3.1.0", "paths": {"/v3/ledger/books/{legal_entity}": {"get": operation}}})
    claims = _claims(entities=("DE01",))
    for path, query in (
        ("/v3/ledger/books/DE01", b"legal_entity=FR01"),
        ("/v3/ledger/books/FR01", b"legal_entity=DE01"),
    ):
        exchange = _exchange("GET", path, query=query, claims=claims, runtime=runtime)
        assert (await _refused(EntityPolicy(), exchange)).extensions == {"legal_entities": ["FR01"]}


async def test_a_request_naming_no_entity_or_without_claims_passes() -> None:
    await EntityPolicy().apply(_exchange("POST", "/v3/ledger/periods/2026-11/close", claims=_claims()))
    await EntityPolicy().apply(_exchange("GET", "/v3/ledger/entities/FR01/balance"))
    await EntityPolicy().apply(_exchange("GET", "/v3/ledger/entities/FR01/balance", claims=_claims(), route=False))


# --- version lifecycle ----------------------------------------------------------------------------


class _Counter:
    """Records the gateway's fire-and-forget counts (a fake RedisBatcher)."""

    def __init__(self) -> None:
        self.counted: list[tuple[str, str]] = []

    def hincrby(self, key: str, field: str, amount: int = 1) -> None:
        self.counted.append((key, field))


async def test_a_retired_version_is_410_pointing_to_its_successor() -> None:
    counter = _Counter()
    problem = await _refused(VersionPolicy(counter), _exchange("GET", "/v1/ledger/entries", claims=_claims()))  # type: ignore[arg-type]
    assert isinstance(problem, Gone)
    assert problem.status == 410
    assert problem.detail == "ledger v1 is retired; use v3."
    assert problem.headers == {"Link": '</v3/ledger>; rel="successor-version"'}


async def test_a_retired_version_without_successor_says_so() -> None:
    text = LEDGER_CONFIG.replace('status = "retired"\nsuccessor = 3', 'status = "retired"')
    policy = VersionPolicy(_Counter())  # type: ignore[arg-type]
    problem = await _refused(policy, _exchange("GET", "/v1/ledger/entries", runtime=_runtime(config_text=text)))
    assert problem.detail == "ledger v1 is retired."
    assert problem.headers == {}


async def test_a_deprecated_version_answers_with_its_lifecycle_headers_and_counts_the_client() -> None:
    counter = _Counter()
    exchange = _exchange("GET", "/v2/ledger/entries", claims=_claims())
    await VersionPolicy(counter).apply(exchange)  # type: ignore[arg-type]
    assert exchange.response_headers == exchange.route.deprecation_headers  # type: ignore[union-attr]
    assert len(exchange.response_headers) == 3
    assert counter.counted == [("fig:gateway:deprecated-usage:ledger:v2", "demo")]


async def test_an_active_version_adds_nothing_and_counts_nothing() -> None:
    counter = _Counter()
    exchange = _exchange("GET", "/v3/ledger/entries", claims=_claims())
    await VersionPolicy(counter).apply(exchange)  # type: ignore[arg-type]
    assert exchange.response_headers == []
    assert counter.counted == []
    await VersionPolicy(counter).apply(_exchange("GET", "/v3/ledger/entries", route=False))  # type: ignore[arg-type]


async def test_no_operation_on_a_deprecated_route_is_404_with_its_lifecycle_headers() -> None:
    exchange = _exchange("GET", "/v2/ledger/entries", claims=_claims())
    exchange.operation = None
    problem = await _refused(VersionPolicy(_Counter()), exchange)  # type: ignore[arg-type]
    assert (problem.status, problem.problem_slug) == (404, "unknown-route")
    assert len(exchange.response_headers) == 3


# --- idempotency ----------------------------------------------------------------------------------


class _Store:
    """Answers the idempotency scripts with a given outcome and records every call (a fake RedisBatcher)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[list[str], list[Any]]] = []

    async def evalsha(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        self.calls.append((keys, args))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _idempotency(store: _Store, max_body: int = 100) -> IdempotencyPolicy:
    return IdempotencyPolicy(store, ttl=86_400.0, lock_ttl=30.0, max_body=max_body)  # type: ignore[arg-type]


def _post(key: bytes | None = b"key-1", body: bytes = b'{"a":1}') -> Exchange:
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"idempotency-key", key))
    return _exchange("POST", "/v3/ledger/journals", headers=headers, body=body, claims=_claims())


def _record(key: bytes = b"key-1", path: str = "/v3/ledger/journals") -> str:
    return "fig:gateway:idem:{demo}:" + hashlib.sha256(b"POST " + path.encode() + b" " + key).hexdigest()


def test_only_answers_a_repeat_would_always_get_are_final() -> None:
    assert [status for status in (200, 201, 302, 400, 404, 422, 499) if final(status)] == [
        200,
        201,
        302,
        400,
        404,
        422,
        499,
    ]
    assert not any(final(status) for status in (401, 403, 408, 409, 423, 425, 429, 500, 502, 503))


async def test_operations_that_are_not_material_posts_need_no_key() -> None:
    store = _Store()
    await _idempotency(store).apply(_exchange("POST", "/v3/ledger/periods/2026-11/close", claims=_claims()))
    await _idempotency(store).apply(_exchange("GET", "/v3/ledger/entries", claims=_claims()))
    await _idempotency(store).apply(_exchange("GET", "/v3/ledger/entries", route=False))
    # Only POST creates: a material PUT or PATCH is idempotent by its own meaning.
    material = {"x-financially-material": True, "security": []}
    runtime = _runtime({"openapi": "3.1.0", "paths": {"/v3/ledger/books": {"put": material, "patch": material}}})
    for method in ("PUT", "PATCH"):
        await _idempotency(store).apply(_exchange(method, "/v3/ledger/books", claims=_claims(), runtime=runtime))
    assert store.calls == []


async def test_a_material_post_without_a_key_is_400() -> None:
    problem = await _refused(_idempotency(_Store()), _post(key=None))
    assert (problem.status, problem.problem_slug) == (400, "missing-idempotency-key")
    assert problem.detail.startswith("postJournal is financially material")


@pytest.mark.parametrize("key", [b"", b"with space", b"x" * 256, "caf\u00e9".encode()])
async def test_a_key_that_is_not_1_to_255_visible_ascii_characters_is_400(key: bytes) -> None:
    problem = await _refused(_idempotency(_Store()), _post(key=key))
    assert (problem.status, problem.problem_slug) == (400, "invalid-idempotency-key")


async def test_a_new_key_is_claimed_for_this_client_path_and_body_and_its_final_answer_stored() -> None:
    store = _Store([b"claimed"], 1)
    exchange = _post(key=b"k" * 255)
    await _idempotency(store).apply(exchange)
    assert exchange.replay is None
    fingerprint = hashlib.sha256(b'{"a":1}').hexdigest()
    assert store.calls == [([_record(b"k" * 255)], [fingerprint, 30_000])]
    headers = [(b"cache-control", b"no-store"), (b"content-type", b"application/json"), (b"content-length", b"2")]
    await exchange.on_response(201, headers, b"{}")
    kept = [["cache-control", "no-store"], ["content-type", "application/json"]]
    assert store.calls[1] == ([_record(b"k" * 255)], [fingerprint, 201, json.dumps(kept), b"{}", 86_400_000])


async def test_keys_are_scoped_by_path() -> None:
    store = _Store(["claimed"], ["claimed"])
    await _idempotency(store).apply(_post())
    other = _post()
    other.path = "/v3/ledger/journals/again"
    await _idempotency(store).apply(other)
    assert [keys for keys, _ in store.calls] == [[_record()], [_record(path="/v3/ledger/journals/again")]]


@pytest.mark.parametrize(("status", "body"), [(500, b"{}"), (409, b"{}"), (429, b"{}"), (201, None), (201, b"x" * 101)])
async def test_an_answer_that_may_not_be_replayed_releases_the_key(status: int, body: bytes | None) -> None:
    store = _Store(["claimed"], 1)
    exchange = _post()
    await _idempotency(store).apply(exchange)
    await exchange.on_response(status, [], body)
    assert store.calls[1] == ([_record()], [hashlib.sha256(b'{"a":1}').hexdigest()])


async def test_an_answer_of_exactly_the_stored_size_is_kept() -> None:
    store = _Store(["claimed"], 1)
    exchange = _post()
    await _idempotency(store, max_body=4).apply(exchange)
    await exchange.on_response(201, [], b"abcd")
    assert store.calls[1][1][1:] == [201, "[]", b"abcd", 86_400_000]


async def test_a_refusal_after_the_claim_releases_the_key_and_redis_failures_there_are_swallowed() -> None:
    store = _Store(["claimed"], RedisConnectionError("down"), RedisConnectionError("down"))
    exchange = _post()
    await _idempotency(store).apply(exchange)
    await exchange.on_refusal()
    assert store.calls[1] == ([_record()], [hashlib.sha256(b'{"a":1}').hexdigest()])
    await exchange.on_response(201, [], b"{}")  # storing failed: the answer still goes out


async def test_the_same_key_with_another_body_is_422() -> None:
    problem = await _refused(_idempotency(_Store([b"mismatch"])), _post())
    assert (problem.status, problem.problem_slug) == (422, "idempotency-key-reused")


async def test_the_same_key_in_flight_is_409_with_retry_after() -> None:
    problem = await _refused(_idempotency(_Store([b"inflight"])), _post())
    assert (problem.status, problem.problem_slug) == (409, "idempotency-key-in-flight")
    assert problem.headers == {"Retry-After": "1"}


async def test_a_completed_key_replays_the_stored_answer() -> None:
    stored = [b"done", b"201", json.dumps([["content-type", "application/json"]]).encode(), b'{"id":1}']
    exchange = _post()
    await _idempotency(_Store(stored)).apply(exchange)
    assert exchange.replay == (
        201,
        [(b"content-type", b"application/json"), (b"idempotent-replayed", b"true")],
        b'{"id":1}',
    )


async def test_a_store_answering_text_replays_the_same() -> None:
    stored = ["done", "200", "[]", "{}"]
    exchange = _post()
    await _idempotency(_Store(stored)).apply(exchange)
    replay: Any = exchange.replay  # what the store answered, passed on as it came
    assert replay == (200, [(b"idempotent-replayed", b"true")], "{}")


async def test_an_unreachable_store_is_503() -> None:
    problem = await _refused(_idempotency(_Store(RedisConnectionError("down"))), _post())
    assert (problem.status, problem.problem_slug) == (503, "idempotency-unavailable")


# --- authentication -------------------------------------------------------------------------------

SECRET = "a-test-secret-long-enough-for-hs256-keys!"


class _Verifier:
    """Stands in for a JWKSVerifier: counts verifications, answers fixed claims."""

    def __init__(self, keys_until: float = 5_000_000_000.0) -> None:
        self.keys_until = keys_until
        self.verified: list[str] = []

    async def verify(self, token: str) -> TokenClaims:
        self.verified.append(token)
        return _claims(scopes=("ledger:read",))


class _Exchanger:
    margin = 10.0

    async def exchange(self, token: str) -> tuple[str, float]:
        return "upstream-" + token[:4], 3_000_000_100.0


def _token(issuer: str = ISSUER, pad: int = 0) -> str:
    return jwt.encode({"iss": issuer, "pad": "x" * pad}, SECRET, algorithm="HS256")


def _authed(*values: bytes, verifier: _Verifier | None = None) -> Exchange:
    verifier = verifier or _Verifier()
    runtime = _runtime(verifiers={ISSUER: verifier, ISSUER + "/": verifier})
    headers = [(b"accept", b"application/json"), *((b"authorization", v) for v in values), (b"x-trace", b"t")]
    return _exchange("GET", "/v3/ledger/entries", headers=headers, runtime=runtime, route=False)


@pytest.mark.parametrize(
    "values", [(), (b"Basic abc",), (b"Digest abc",), (b"Token abc",), (b"Bearer ",), (b"Bearer    ",), (b"token",)]
)
async def test_no_bearer_token_is_401_missing_token(values: tuple[bytes, ...]) -> None:
    problem = await _refused(AuthenticationPolicy(VerifiedTokenCache(8)), _authed(*values))
    assert (problem.status, problem.problem_slug) == (401, "missing-token")
    assert problem.headers == {"WWW-Authenticate": "Bearer"}


@pytest.mark.parametrize("values", [(b"Bearer a", b"Bearer b"), (b"Bearer a, Bearer b",)])
async def test_two_authorization_headers_are_400(values: tuple[bytes, ...]) -> None:
    problem = await _refused(AuthenticationPolicy(VerifiedTokenCache(8)), _authed(*values))
    assert (problem.status, problem.problem_slug) == (400, "duplicate-authorization")


async def test_a_verified_token_sets_the_claims_and_is_cached_until_it_or_its_keys_expire() -> None:
    verifier = _Verifier(keys_until=3_000_000_000.0)
    cache = VerifiedTokenCache(8)
    token = _token()
    for _ in range(2):
        exchange = _authed(b"bearer " + token.encode() + b" ", verifier=verifier)
        await AuthenticationPolicy(cache).apply(exchange)
        assert (exchange.token, exchange.upstream_token) == (token, None)
        assert exchange.claims is not None
        assert exchange.claims.scopes == {"ledger:read"}
    assert verifier.verified == [token]
    cache.clock = lambda: 2_999_999_999.0
    assert cache.get(token) is not None
    cache.clock = lambda: 3_000_000_000.0
    assert cache.get(token) is None
    assert len(cache) == 0
    exchange = _authed(b"Bearer " + token.encode(), verifier=verifier)
    await AuthenticationPolicy(cache).apply(exchange)
    cache.clock = lambda: 3_000_000_001.0
    assert cache.get(token) is None


async def test_an_exchanged_token_is_cached_until_shortly_before_the_upstream_one_ends() -> None:
    cache = VerifiedTokenCache(8)
    token = _token()
    exchange = _authed(b"Bearer " + token.encode())
    await AuthenticationPolicy(cache, _Exchanger()).apply(exchange)  # type: ignore[arg-type]
    assert exchange.upstream_token == "upstream-" + token[:4]
    cache.clock = lambda: 3_000_000_089.0
    assert cache.get(token) is not None
    cache.clock = lambda: 3_000_000_090.0
    assert cache.get(token) is None


async def test_a_token_of_exactly_the_maximum_length_is_verified_and_a_longer_one_refused() -> None:
    token = next(t for t in (_token(pad=n) for n in range(6000, 6200)) if len(t) in (8191, 8192))
    token = (
        token
        if len(token) == 8192
        else _token(ISSUER + "/", pad=len(jwt.decode(token, options={"verify_signature": False})["pad"]))
    )
    assert len(token) == 8192
    verifier = _Verifier()
    await AuthenticationPolicy(VerifiedTokenCache(8)).apply(_authed(b"Bearer " + token.encode(), verifier=verifier))
    assert verifier.verified == [token]
    problem = await _refused(AuthenticationPolicy(VerifiedTokenCache(8)), _authed(b"Bearer " + token.encode() + b"x"))
    assert (problem.status, problem.problem_slug) == (401, "invalid-token")
    assert problem.detail == "The bearer token is longer than 8192 characters."
    assert problem.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        ("not-a-jwt", "the bearer token is not a JWT"),
        (_token("https://evil.test"), "token issuer 'https://evil.test' is not trusted"),
    ],
)
async def test_a_token_that_is_no_jwt_or_from_an_untrusted_issuer_is_401(token: str, detail: str) -> None:
    problem = await _refused(AuthenticationPolicy(VerifiedTokenCache(8)), _authed(b"Bearer " + token.encode()))
    assert (problem.status, problem.problem_slug) == (401, "invalid-token")
    assert problem.detail.startswith(detail)


async def test_a_token_without_an_issuer_is_401() -> None:
    token = jwt.encode({"sub": "x"}, SECRET, algorithm="HS256")
    problem = await _refused(AuthenticationPolicy(VerifiedTokenCache(8)), _authed(b"Bearer " + token.encode()))
    assert problem.detail == "token issuer None is not trusted"


def test_the_cache_drops_its_oldest_entry_when_full_and_keeps_nothing_when_disabled() -> None:
    cache = VerifiedTokenCache(2, clock=lambda: 0.0)
    for token in ("a", "b", "c"):
        cache.put(token, _claims())
    assert (cache.get("a"), len(cache)) == (None, 2)
    assert cache.get("b") is not None
    assert cache.get("c") is not None
    cache.put("d", _claims(), until=10.0, upstream="up")
    assert cache.get("d") == (_claims(), "up")
    cache.clear()
    assert len(cache) == 0
    for size in (0, -1):
        disabled = VerifiedTokenCache(size)
        disabled.put("a", _claims())
        assert len(disabled) == 0
    single = VerifiedTokenCache(1)
    single.put("a", _claims())
    single.put("b", _claims())
    assert (single.get("a"), single.get("b"), len(single)) == (None, (_claims(), None), 1)
    large = VerifiedTokenCache(300)
    for n in range(301):
        large.put(f"t{n}", _claims())
    assert len(large) == 300


def test_authentication_runs_before_routing_so_anonymous_callers_learn_no_routes() -> None:
    assert AuthenticationPolicy.before_routing is True


# --- catalogue: documents, route table, operations --------------------------------------------------

TWO_ROUTES = """
[[upstreams]]
name = "process"

[[routes]]
api = "ledger"
major = 3
prefix = "/ledger"
upstream = "process"

[[routes]]
api = "archive"
major = 3
prefix = "/ledger/archive"
upstream = "process"

[[apis]]
name = "ledger"
[[apis.versions]]
major = 3

[[apis]]
name = "archive"
[[apis.versions]]
major = 3

[[tiers]]
name = "standard"
limits.default = { requests = 10, period = 60.0 }
"""


def _get(operation_id: str) -> dict[str, Any]:
    return {"get": {"operationId": operation_id}}


def test_the_longest_base_owns_its_paths_and_a_shorter_one_the_rest() -> None:
    paths = {
        "/v3/ledger/archive": _get("archive"),
        "/v3/ledger/archive/items": _get("archived"),
        "/v3/ledger/archived-items": _get("notArchive"),
        "/v3/ledger/accounts": _get("accounts"),
        "/v3/ledger/entries": {**_get("entries"), "post": {"operationId": "postEntry"}},
    }
    runtime = _runtime({"openapi": "3.1.0", "paths": paths}, config_text=TWO_ROUTES)
    resolved = {path: runtime.routes.resolve("GET", path) for path in paths}
    assert {path: (route.key, op.operation_id if op else None) for path, (route, op, _) in resolved.items()} == {
        "/v3/ledger/archive": ("archive:v3", "archive"),
        "/v3/ledger/archive/items": ("archive:v3", "archived"),
        "/v3/ledger/archived-items": ("ledger:v3", "notArchive"),
        "/v3/ledger/accounts": ("ledger:v3", "accounts"),
        "/v3/ledger/entries": ("ledger:v3", "entries"),
    }
    _, posted, _ = runtime.routes.resolve("POST", "/v3/ledger/entries")
    assert posted is not None
    assert posted.operation_id == "postEntry"


def test_what_an_operation_takes_from_its_document() -> None:
    entity = {"name": "legal_entity", "schema": {"type": "string"}}
    paths = {
        "/v3/ledger/probe": {
            "post": {
                "x-financially-material": "true",
                "parameters": [{**entity, "in": "header"}, {"name": "book", "in": "query", "schema": {}}],
                "requestBody": {
                    "content": {
                        "application/problem+json": {"schema": {"type": "object"}},
                        "application/json": {},
                        "text/plain": {"schema": {"type": "string"}},
                        "application/csv": {"schema": {"type": "string"}},
                    }
                },
                "responses": {"default": {"content": {"application/json": {"schema": {}}}}, "204": {}},
            },
            "put": {"x-financially-material": True},
            "patch": {"x-financially-material": 1},
        }
    }
    runtime = _runtime({"openapi": "3.1.0", "paths": paths})
    _, post, _ = runtime.routes.resolve("POST", "/v3/ledger/probe")
    _, put, _ = runtime.routes.resolve("PUT", "/v3/ledger/probe")
    assert post is not None
    assert put is not None
    _, patch, _ = runtime.routes.resolve("PATCH", "/v3/ledger/probe")
    assert (post.operation_id, post.material, put.material) == ("POST /v3/ledger/probe", False, True)
    assert patch is not None
    assert not patch.material
    assert post.bodies["application/csv"] is None
    assert post.entity_params == frozenset()
    assert post.bodies["application/problem+json"] is not None
    assert post.bodies["application/json"] is None
    assert post.bodies["text/plain"] is None
    assert post.responses == {}
    assert not post.body_required


def test_documents_are_read_from_the_base_directory_and_a_missing_one_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "v1.json").write_text(json.dumps({"paths": {}}))
    with caplog.at_level(logging.WARNING, logger="gateway.catalogue"):
        assert load_documents(["ledger/v9.json", "ledger/v1.json"], tmp_path) == [{"paths": {}}]
    assert [r.getMessage() for r in caplog.records] == ["OpenAPI document not found, skipped"]
    (tmp_path / "ledger" / "v2.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"ledger/v2\.json"):
        load_documents(["ledger/v2.json"], tmp_path)


def test_only_a_deprecated_version_announces_its_deprecation_and_only_a_live_successor_is_linked() -> None:
    dates = "deprecated_at = 2026-06-01T00:00:00Z\nsunset_at = 2027-01-31T00:00:00Z\n"
    text = LEDGER_CONFIG.replace('status = "retired"\nsuccessor = 3', 'status = "retired"\nsuccessor = 3\n' + dates)
    text = text.replace("[[apis.versions]]\nmajor = 3\n", "[[apis.versions]]\nmajor = 3\nsuccessor = 2\n" + dates)
    runtime = _runtime(config_text=text)
    retired, _, _ = runtime.routes.resolve("GET", "/v1/ledger/entries")
    assert retired.deprecation_headers == [(b"link", b'</v3/ledger>; rel="successor-version"')]
    active, _, _ = runtime.routes.resolve("GET", "/v3/ledger/entries")
    assert active.version.sunset_at is not None
    assert active.deprecation_headers == []
    text = LEDGER_CONFIG.replace('status = "retired"\nsuccessor = 3', 'status = "retired"')
    alone, _, _ = _runtime(config_text=text).routes.resolve("GET", "/v1/ledger/entries")
    assert alone.deprecation_headers == []
