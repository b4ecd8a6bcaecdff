"""Each policy of the chain and its refusals, on a synthetic `ledger` contract (tests/gateway/ledger.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from servicekit import RedisClient, free_port
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.helpers import assert_problem, audited
from tests.gateway.ledger import write_ledger
from tests.support import running_server

ENTRIES = "/v3/ledger/entries"
JOURNALS = "/v3/ledger/journals"
JOURNAL = {"legal_entity": "DE01", "amount": "120.00", "lines": [{"account": "4000"}]}
SCOPES = ("ledger:read", "ledger:write")


async def _eventually(check: Callable[[], Any]) -> Any:
    deadline = asyncio.get_running_loop().time() + 10.0
    while True:
        value = await check()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.02)


async def _hit(upstream: FakeUpstream, tag: str) -> bool:
    return upstream.hits[tag] >= 1


@pytest.fixture
def ledger(tmp_path: Path, make_gateway: Callable[..., Litestar]) -> Callable[..., Litestar]:
    def build(limit: int = 1000, **overrides: Any) -> Litestar:
        return make_gateway(**write_ledger(tmp_path, limit), **overrides)

    return build


@pytest.fixture
async def client(ledger: Callable[..., Litestar], redis: RedisClient) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(ledger()) as test_client:
        yield test_client


def _auth(
    idp: RunningIdp, client_id: str = "demo", scopes: tuple[str, ...] = SCOPES, extra: dict[str, str] | None = None
) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.mint(client_id, scopes)}", **(extra or {})}


# --- 1. size and shape ---------------------------------------------------------------------------


async def test_a_header_block_over_the_limit_is_431_and_audited(
    ledger: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    async with AsyncTestClient(ledger(max_header_bytes=2048)) as client:
        cid = uuid.uuid4().hex
        headers = _auth(idp, extra={"X-Correlation-ID": cid, "X-Padding": "p" * 3000})
        response = await client.get(f"{ENTRIES}?legal_entity=DE01", headers=headers)
        assert_problem(response, 431, "headers-too-large", cid)
        assert (await audited(redis, cid))["status"] == "431"
        fine = await client.get(f"{ENTRIES}?legal_entity=DE01", headers=_auth(idp))
        assert fine.status_code == 200, fine.text


async def test_a_body_of_an_undocumented_media_type_is_415(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    headers = _auth(idp, extra={"X-Correlation-ID": cid, "Content-Type": "text/plain", "Idempotency-Key": "k"})
    response = await client.post(JOURNALS, content=b"legal_entity=DE01", headers=headers)
    body = assert_problem(response, 415, "unsupported-media-type", cid)
    assert body["extensions"]["accepted"] == ["application/json"]
    assert (await audited(redis, cid))["reason"] == "unsupported-media-type"
    # A media type the operation documents passes (and is not JSON-validated).
    text = _auth(idp, extra={"Content-Type": "text/plain"})
    note = await client.post("/v3/ledger/notes", content=b"hello", headers=text)
    assert note.status_code == 201, note.text


# --- 3. authorisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"{ENTRIES}?legal_entity=GB01", None),  # in the token's claim, not in the registry
        ("GET", f"{ENTRIES}?legal_entity=FR01", None),
        ("GET", "/v3/ledger/entities/GB01/balance", None),
        ("POST", JOURNALS, {**JOURNAL, "legal_entity": "GB01"}),
        ("POST", JOURNALS, {**JOURNAL, "lines": [{"account": "4000", "legal_entity": "FR01"}]}),
    ],
    ids=["query-registry", "query-claim", "path", "body", "nested-body"],
)
async def test_an_entity_the_client_is_not_cleared_for_is_403(
    method: str, path: str, body: Any, client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    headers = _auth(idp, extra={"X-Correlation-ID": cid, "Idempotency-Key": cid})
    response = await client.request(method, path, json=body, headers=headers)
    problem = assert_problem(response, 403, "entity-not-allowed", cid)
    assert problem["extensions"]["legal_entities"][0] in {"GB01", "FR01"}
    entry = await audited(redis, cid)
    assert entry["client"] == "demo"
    # Evidence in the refused entity's own hash chain: its auditors see who tried.
    assert (entry["action"], entry["legal_entity"]) == ("gateway.refused", problem["extensions"]["legal_entities"][0])


async def test_entities_the_client_is_cleared_for_pass(client: AsyncTestClient[Litestar], idp: RunningIdp) -> None:
    assert (await client.get(f"{ENTRIES}?legal_entity=DE01", headers=_auth(idp))).status_code == 200
    assert (await client.get("/v3/ledger/entities/US01/balance", headers=_auth(idp))).status_code == 200


async def test_scopes_come_from_the_operations_security_in_the_document(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    headers = _auth(idp, scopes=("ledger:read",), extra={"X-Correlation-ID": cid, "Idempotency-Key": "k"})
    response = await client.post(JOURNALS, json=JOURNAL, headers=headers)
    problem = assert_problem(response, 403, "insufficient-scope", cid)
    assert problem["extensions"]["required_scopes"] == ["ledger:write"]
    assert (await audited(redis, cid))["operation"] == "postJournal"


@pytest.mark.parametrize("granted", [("ledger:write",), ("ledger:close",), ("ledger:read", "ledger:close")])
async def test_an_operation_needing_two_scopes_refuses_a_token_with_one_of_them(
    granted: tuple[str, ...], client: AsyncTestClient[Litestar], idp: RunningIdp
) -> None:
    cid = uuid.uuid4().hex
    path = "/v3/ledger/periods/2026-11/close"
    response = await client.post(path, headers=_auth(idp, scopes=granted, extra={"X-Correlation-ID": cid}))
    problem = assert_problem(response, 403, "insufficient-scope", cid)
    assert sorted(problem["extensions"]["required_scopes"]) == ["ledger:close", "ledger:write"]
    both = await client.post(path, headers=_auth(idp, scopes=("ledger:write", "ledger:close")))
    assert both.status_code == 201, both.text
    assert both.json()["path"] == path  # the one with both scopes reached the upstream


async def test_unregistered_clients_and_versions_a_client_may_not_call_are_403(
    client: AsyncTestClient[Litestar], idp: RunningIdp
) -> None:
    cid = uuid.uuid4().hex
    stranger = _auth(idp, "process-api", extra={"X-Correlation-ID": cid})
    assert_problem(await client.get(f"{ENTRIES}?legal_entity=DE01", headers=stranger), 403, "unknown-client", cid)
    cid = uuid.uuid4().hex
    reader = _auth(idp, "demo-reader", extra={"X-Correlation-ID": cid})
    response = await client.get("/v2/ledger/entries?legal_entity=DE01", headers=reader)
    assert_problem(response, 403, "api-not-allowed", cid)


# --- 4. version lifecycle ------------------------------------------------------------------------


async def test_a_deprecated_version_answers_with_lifecycle_headers_and_is_counted(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    for _ in range(2):
        response = await client.get("/v2/ledger/entries?legal_entity=DE01", headers=_auth(idp))
        assert response.status_code == 200, response.text
    deprecated_at = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())
    assert response.headers["deprecation"] == f"@{deprecated_at}"
    assert response.headers["sunset"] == "Sun, 31 Jan 2027 00:00:00 GMT"
    assert response.headers["link"] == '</v3/ledger>; rel="successor-version"'

    async def counted() -> bool:
        return await redis.hget("fig:gateway:deprecated-usage:ledger:v2", "demo") == b"2"

    assert await _eventually(counted)
    current = await client.get(f"{ENTRIES}?legal_entity=DE01", headers=_auth(idp))
    assert "deprecation" not in current.headers
    assert "sunset" not in current.headers


def _metered_v2(directory: Path) -> dict[str, Any]:
    """The ledger with v2 metered too, at one request a minute (its second answer is a 429)."""
    settings = write_ledger(directory, limit=1)
    config = Path(settings["config_path"])
    text = config.read_text().replace(
        'major = 2\nprefix = "/ledger"\n', 'major = 2\nprefix = "/ledger"\ntier = "metered"\n'
    )
    config.write_text(text)
    return settings


async def test_a_deprecated_versions_refusals_carry_the_same_lifecycle_headers_as_its_answers(
    tmp_path: Path, make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    settings = _metered_v2(tmp_path)
    v2 = "/v2/ledger/entries?legal_entity=DE01"
    async with AsyncTestClient(make_gateway(**settings)) as client:
        success = await client.get(v2, headers=_auth(idp))
        assert success.status_code == 200, success.text
        lifecycle = {name: success.headers[name] for name in ("deprecation", "sunset", "link")}
        unauthenticated = await client.get(v2)
        invalid = await client.get(v2, headers={"Authorization": "Bearer not-a-token"})
        token = _auth(idp)["Authorization"]
        duplicate = await client.get(v2, headers=[("Authorization", token), ("Authorization", token)])
        limited = await client.get(v2, headers=_auth(idp))
    for refusal, status in ((unauthenticated, 401), (invalid, 401), (duplicate, 400), (limited, 429)):
        assert refusal.status_code == status, refusal.text
        assert {name: refusal.headers.get(name) for name in lifecycle} == lifecycle


async def test_a_retired_version_is_410_and_an_unknown_one_404(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    headers = _auth(idp, extra={"X-Correlation-ID": cid})
    response = await client.get("/v1/ledger/entries?legal_entity=DE01", headers=headers)
    assert_problem(response, 410, "version-retired", cid)
    assert response.headers["link"] == '</v3/ledger>; rel="successor-version"'
    assert (await audited(redis, cid))["status"] == "410"
    cid = uuid.uuid4().hex
    unknown = await client.get("/v4/ledger/entries", headers=_auth(idp, extra={"X-Correlation-ID": cid}))
    assert_problem(unknown, 404, "unknown-route", cid)


# --- 5. rate limits ------------------------------------------------------------------------------


async def test_the_limit_is_exact_with_ratelimit_headers_and_then_429(
    ledger: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    async with AsyncTestClient(ledger(limit=3)) as client:
        remaining = []
        for _ in range(3):
            response = await client.get(f"{ENTRIES}?legal_entity=DE01", headers=_auth(idp))
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-policy"] == '"metered";q=3;w=60'
            remaining.append(response.headers["ratelimit"].split(";")[1])
        assert remaining == ["r=2", "r=1", "r=0"]
        cid = uuid.uuid4().hex
        refused = await client.get(f"{ENTRIES}?legal_entity=DE01", headers=_auth(idp, extra={"X-Correlation-ID": cid}))
        assert_problem(refused, 429, "rate-limited", cid)
        assert 1 <= int(refused.headers["retry-after"]) <= 20
        assert refused.headers["ratelimit"].startswith('"metered";r=0;t=')
        assert (await audited(redis, cid))["client"] == "demo"
        # Another client has its own budget.
        other = await client.get("/v3/ledger/entities/DE01/balance", headers=_auth(idp, "demo-reader"))
        assert other.status_code == 200, other.text


async def test_concurrent_requests_never_exceed_the_limit(
    ledger: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    async with AsyncTestClient(ledger(limit=10)) as client:
        headers = _auth(idp)
        responses = await asyncio.gather(
            *(client.get(f"{ENTRIES}?legal_entity=DE01", headers=headers) for _ in range(25))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 10, statuses
    assert statuses.count(429) == 15


# --- 6. idempotency ------------------------------------------------------------------------------


async def test_a_financially_material_post_needs_an_idempotency_key(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    response = await client.post(JOURNALS, json=JOURNAL, headers=_auth(idp, extra={"X-Correlation-ID": cid}))
    assert_problem(response, 400, "missing-idempotency-key", cid)
    assert (await audited(redis, cid))["reason"] == "missing-idempotency-key"
    cid = uuid.uuid4().hex
    too_long = _auth(idp, extra={"X-Correlation-ID": cid, "Idempotency-Key": "k" * 300})
    bad = await client.post(JOURNALS, json=JOURNAL, headers=too_long)
    assert bad.status_code == 400


async def test_the_first_answer_is_replayed_for_the_same_key_and_body(
    client: AsyncTestClient[Litestar], idp: RunningIdp, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex
    headers = _auth(idp, extra={"Idempotency-Key": f"key-{tag}"})
    first = await client.post(f"{JOURNALS}?tag={tag}", json=JOURNAL, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(f"{JOURNALS}?tag={tag}", json=JOURNAL, headers=headers)
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    # The gateway's own headers are fresh on the replay, not stored copies next to new ones.
    assert len(again.headers.get_list("ratelimit")) == 1
    assert again.headers["ratelimit"] != first.headers["ratelimit"]
    assert "idempotent-replayed" not in first.headers
    assert upstream.hits[tag] == 1
    # Same key, other body: 422, nothing forwarded.
    other = await client.post(f"{JOURNALS}?tag={tag}", json={**JOURNAL, "amount": "1.00"}, headers=headers)
    assert_problem(other, 422, "idempotency-key-reused", other.headers["x-correlation-id"])
    assert upstream.hits[tag] == 1
    # Keys are scoped per client: the same key from another client is a new request.
    reader = _auth(idp, "demo-reader", extra={"Idempotency-Key": f"key-{tag}"})
    fresh = await client.post(f"{JOURNALS}?tag={tag}", json=JOURNAL, headers=reader)
    assert fresh.status_code == 201, fresh.text
    assert "idempotent-replayed" not in fresh.headers
    assert upstream.hits[tag] == 2


async def test_a_key_still_in_flight_is_409(
    ledger: Callable[..., Litestar], idp: RunningIdp, upstream: FakeUpstream, redis: RedisClient
) -> None:
    tag = uuid.uuid4().hex
    headers = _auth(idp, extra={"Idempotency-Key": f"key-{tag}"})
    url = f"{JOURNALS}?hold=1&tag={tag}"
    # Real HTTP; the upstream holds the first request until the second has been answered.
    with running_server(ledger()) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            slow = asyncio.ensure_future(http.post(url, json=JOURNAL, headers=headers))
            # The first reached the upstream: its key is claimed and in flight.
            assert await _eventually(lambda: _hit(upstream, tag))
            try:
                second = await http.post(url, json=JOURNAL, headers=headers)
            finally:
                upstream.release(tag)
            first = await slow
    assert first.status_code == 201, first.text
    assert_problem(second, 409, "idempotency-key-in-flight", second.headers["x-correlation-id"])
    assert upstream.hits[tag] == 1


async def test_a_failed_answer_releases_the_key_so_a_retry_runs(
    client: AsyncTestClient[Litestar], idp: RunningIdp, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex
    headers = _auth(idp, extra={"Idempotency-Key": f"key-{tag}"})
    url = f"{JOURNALS}?tag={tag}&fail=1"
    down = await client.post(url, json=JOURNAL, headers=headers)
    assert down.status_code == 503, down.text
    assert down.headers["retry-after"] == "1"
    # The upstream is back: the same key runs the request instead of replaying the 503.
    retried = await client.post(url, json=JOURNAL, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert upstream.hits[tag] == 2
    # That final answer is kept: replayed, not run a third time; another body is still refused.
    again = await client.post(url, json=JOURNAL, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == retried.content
    assert upstream.hits[tag] == 2
    other = await client.post(url, json={**JOURNAL, "amount": "1.00"}, headers=headers)
    assert_problem(other, 422, "idempotency-key-reused", other.headers["x-correlation-id"])


async def test_an_answer_that_depends_on_the_moment_is_not_replayed(
    client: AsyncTestClient[Litestar], idp: RunningIdp, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex
    headers = _auth(idp, extra={"Idempotency-Key": f"key-{tag}"})
    for status in (429, 409, 500):
        answer = await client.post(f"{JOURNALS}?tag={tag}&status={status}", json=JOURNAL, headers=headers)
        assert answer.status_code == status
        assert "idempotent-replayed" not in answer.headers
    # A 404 is what this request would always get: kept and replayed.
    gone = await client.post(f"{JOURNALS}?tag={tag}&status=404", json=JOURNAL, headers=headers)
    replayed = await client.post(f"{JOURNALS}?tag={tag}&status=201", json=JOURNAL, headers=headers)
    assert (gone.status_code, replayed.status_code) == (404, 404)
    assert replayed.headers["idempotent-replayed"] == "true"
    assert upstream.hits[tag] == 4


async def test_a_refusal_after_the_claim_releases_the_key(client: AsyncTestClient[Litestar], idp: RunningIdp) -> None:
    headers = _auth(idp, extra={"Idempotency-Key": uuid.uuid4().hex})
    invalid = await client.post(JOURNALS, json={**JOURNAL, "amount": 12.5}, headers=headers)
    assert invalid.status_code == 400
    # Had the key kept the invalid body's fingerprint, this would be 422.
    corrected = await client.post(JOURNALS, json=JOURNAL, headers=headers)
    assert corrected.status_code == 201, corrected.text


# --- 7. validation -------------------------------------------------------------------------------


async def test_parameters_are_validated_with_every_violation_listed(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    query = "legal_entity=DE01&limit=abc&since=2026-13-45&flag=maybe&tag=1&tag=x"
    response = await client.get(f"{ENTRIES}?{query}", headers=_auth(idp, extra={"X-Correlation-ID": cid}))
    problem = assert_problem(response, 400, "invalid-request", cid)
    locations = sorted(e["location"] for e in problem["errors"])
    assert locations == ["query.flag", "query.limit", "query.since", "query.tag[1]"], problem
    assert (await audited(redis, cid))["reason"] == "invalid-request"
    fine = await client.get(
        f"{ENTRIES}?legal_entity=DE01&limit=5&since=2026-10-01&flag=true&tag=1&tag=2", headers=_auth(idp)
    )
    assert fine.status_code == 200, fine.text
    missing = await client.get(ENTRIES, headers=_auth(idp))
    assert [e["location"] for e in missing.json()["errors"]] == ["query"]
    assert "legal_entity" in missing.json()["errors"][0]["message"]


async def test_a_body_is_validated_with_every_violation_listed(
    client: AsyncTestClient[Litestar], idp: RunningIdp, upstream: FakeUpstream
) -> None:
    tag = uuid.uuid4().hex
    body = {"legal_entity": "DE01", "amount": 12.5, "booked_on": "2026-02-30", "lines": [], "extra": 1}
    response = await client.post(
        f"{JOURNALS}?tag={tag}", json=body, headers=_auth(idp, extra={"Idempotency-Key": uuid.uuid4().hex})
    )
    problem = assert_problem(response, 400, "invalid-request", response.headers["x-correlation-id"])
    locations = sorted(e["location"] for e in problem["errors"])
    assert locations == ["$", "$.amount", "$.booked_on", "$.lines"], problem
    malformed = await client.post(
        f"{JOURNALS}?tag={tag}",
        content=b'{"legal_entity": ',
        headers=_auth(idp, extra={"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}),
    )
    assert_problem(malformed, 400, "malformed-json", malformed.headers["x-correlation-id"])
    assert upstream.hits[tag] == 0


async def test_response_validation_reports_and_never_blocks(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    headers = _auth(idp, extra={"Idempotency-Key": uuid.uuid4().hex})
    response = await client.post(JOURNALS, json=JOURNAL, headers=headers)
    assert response.status_code == 201  # the echo has no `journal_id`, and still goes out

    async def counted() -> bool:
        return await redis.hget("fig:gateway:response-violations", "postJournal") == b"1"

    assert await _eventually(counted)


async def test_a_large_unvalidated_body_streams_to_the_upstream_and_a_small_one_is_sent_whole(
    ledger: Callable[..., Litestar], idp: RunningIdp
) -> None:
    text = _auth(idp, extra={"Content-Type": "text/plain"})
    async with AsyncTestClient(ledger(buffer_limit_bytes=4096, max_body_bytes=1_000_000)) as client:
        large = await client.post("/v3/ledger/notes", content=b"n" * 300_000, headers=text)
        small = await client.post("/v3/ledger/notes", content=b"n" * 100, headers=text)
    assert large.status_code == small.status_code == 201
    large_echo, small_echo = large.json(), small.json()
    assert large_echo["body"] == "n" * 300_000
    sent = {name for name, _ in large_echo["headers"]}
    assert "transfer-encoding" in sent  # forwarded as it arrived, not buffered first
    assert "content-length" not in sent
    assert ["content-length", "100"] in small_echo["headers"]


async def test_a_chunked_body_streams_once_it_outgrows_the_buffer_and_is_sent_whole_below_it(
    ledger: Callable[..., Litestar], idp: RunningIdp
) -> None:
    text = _auth(idp, extra={"Content-Type": "text/plain"})

    def chunked(count: int) -> Callable[[], AsyncIterator[bytes]]:
        async def chunks() -> AsyncIterator[bytes]:
            for i in range(count):
                yield str(i % 10).encode() * 1000
                await asyncio.sleep(0.005)  # arrives in pieces, as a real upload does

        return chunks

    # Real HTTP for real chunks (the in-process test client sends a body in one piece).
    with running_server(ledger(buffer_limit_bytes=4096, max_body_bytes=1_000_000)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            large = await http.post("/v3/ledger/notes", content=chunked(50)(), headers=text)
            small = await http.post("/v3/ledger/notes", content=chunked(2)(), headers=text)
    assert large.status_code == small.status_code == 201
    large_echo, small_echo = large.json(), small.json()
    # Every byte arrives, in order, the held start included.
    assert large_echo["body"] == "".join(str(i % 10) * 1000 for i in range(50))
    assert "transfer-encoding" in {name for name, _ in large_echo["headers"]}
    assert small_echo["body"] == "0" * 1000 + "1" * 1000
    assert ["content-length", "2000"] in small_echo["headers"]


async def test_without_redis_the_rate_limiter_fails_closed(
    tmp_path: Path, make_gateway: Callable[..., Litestar], idp: RunningIdp, upstream: FakeUpstream
) -> None:
    settings = write_ledger(tmp_path)
    dead = f"redis://127.0.0.1:{free_port()}/0"
    async with AsyncTestClient(make_gateway(**settings, redis_url=dead)) as client:
        tag = uuid.uuid4().hex
        response = await client.get(f"{ENTRIES}?legal_entity=DE01&tag={tag}", headers=_auth(idp))
        assert_problem(response, 503, "rate-limit-unavailable", response.headers["x-correlation-id"])
    assert upstream.hits[tag] == 0
