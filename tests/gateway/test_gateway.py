"""The gateway end to end over real HTTP: real IdP tokens, a fake upstream, audit in real Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from gateway import GatewaySettings, create_app
from gateway.config import load_config
from gateway.entry import Entry
from gateway.errors import ConfigError
from servicekit import RedisClient, free_port
from tests.gateway.conftest import RunningIdp
from tests.gateway.fakes import FakeUpstream
from tests.gateway.helpers import assert_problem, audited
from tests.support import running_server

RUNS = "/v1/quote-to-cash/runs"
JSON = {"Content-Type": "application/json"}


def _key() -> dict[str, str]:
    """A fresh Idempotency-Key: starting a run is financially material."""
    return {"Idempotency-Key": uuid.uuid4().hex}


START = {"opportunity_id": "0068d00000DEMO1AAA"}


def _auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def _headers(echo: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in echo["headers"]:
        found.setdefault(name, []).append(value)
    return found


@pytest.fixture
async def client(make_gateway: Callable[..., Litestar], redis: RedisClient) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(make_gateway()) as test_client:
        yield test_client


async def test_valid_token_is_proxied_with_identity_from_the_claims(
    client: AsyncTestClient[Litestar], idp: RunningIdp
) -> None:
    cid = uuid.uuid4().hex
    response = await client.post(
        RUNS + "?dry_run=true",
        content=b'{"opportunity_id": "0068d00000DEMO1AAA"}',
        headers=_auth(
            idp.token(),
            **{
                "Content-Type": "application/json",
                "Idempotency-Key": "k-1",
                "X-Correlation-ID": cid,
                "X-Client-ID": "someone-else",
                "X-Legal-Entities": "ZZ99",
                "Cookie": "session=caller",
                "X-Forwarded-For": "10.6.6.6",
                "Connection": "keep-alive, X-Hop-Secret",
                "X-Hop-Secret": "hop",
                "Proxy-Authorization": "Basic c2VjcmV0",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            },
        ),
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == cid
    echo = response.json()
    assert (echo["method"], echo["path"], echo["query"]) == ("POST", RUNS, "dry_run=true")
    assert echo["body"] == '{"opportunity_id": "0068d00000DEMO1AAA"}'
    sent = _headers(echo)
    assert sent["x-client-id"] == ["demo"]
    assert sent["x-legal-entities"] == ["DE01,GB01,US01"]
    assert sent["x-correlation-id"] == [cid]
    assert sent["idempotency-key"] == ["k-1"]
    # Not the consumer's token: one the gateway obtained for the process API's audience, on the
    # caller's behalf (RFC 8693), carrying the caller's identity and naming the gateway as actor.
    (forwarded,) = sent["authorization"]
    assert forwarded != f"Bearer {idp.token()}"
    caller = jwt.decode(idp.token(), options={"verify_signature": False})
    internal = jwt.decode(forwarded.removeprefix("Bearer "), options={"verify_signature": False})
    assert internal["aud"] == "fig-process"
    assert internal["act"] == {"sub": "gateway"}
    for claim in ("sub", "client_id", "scope", "legal_entities", "iss"):
        assert internal[claim] == caller[claim], claim
    assert internal["exp"] <= caller["exp"]
    assert sent["x-forwarded-for"] == ["testclient"]  # the caller's own address, not what it claimed
    assert sent["x-forwarded-proto"] == ["http"]
    assert "cookie" not in sent
    assert not {"x-hop-secret", "proxy-authorization", "te", "upgrade"} & sent.keys()
    # The trace continues: same trace id, the gateway's span as parent.
    assert sent["traceparent"][0].split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    # Response: allow-listed headers only, Location made relative to the gateway.
    assert response.headers["location"] == RUNS + "/r-1"
    assert response.headers["cache-control"] == "no-store"
    assert "set-cookie" not in response.headers
    assert "x-internal" not in response.headers


async def test_get_with_read_scope_is_proxied(client: AsyncTestClient[Litestar], idp: RunningIdp) -> None:
    token = idp.token("demo-reader")
    response = await client.get(f"{RUNS}/run-42", headers=_auth(token))
    assert response.status_code == 200, response.text
    assert response.json()["path"] == f"{RUNS}/run-42"
    assert _headers(response.json())["x-legal-entities"] == ["DE01"]
    # quote-to-cash v1 is deprecated in the embedded catalogue (as in contracts/catalogue.py).
    assert response.headers["deprecation"] == "@1795737600"
    assert response.headers["sunset"] == "Mon, 31 May 2027 23:59:59 GMT"
    assert response.headers["link"] == '</v2/quote-to-cash>; rel="successor-version"'


async def test_missing_token_is_401_and_audited(client: AsyncTestClient[Litestar], redis: RedisClient) -> None:
    cid = uuid.uuid4().hex
    response = await client.get(f"{RUNS}/run-1", headers={"X-Correlation-ID": cid})
    assert_problem(response, 401, "missing-token", cid)
    assert response.headers["www-authenticate"] == "Bearer"
    entry = await audited(redis, cid)
    assert entry["status"] == "401"
    assert entry["reason"] == "missing-token"
    assert (entry["method"], entry["path"], entry["client"]) == ("GET", f"{RUNS}/run-1", "-")
    assert entry["time"]
    # No token, no entity: the refusal is chained in the global audit chain, actor anonymous.
    assert (entry["action"], entry["actor"], entry["legal_entity"]) == ("gateway.refused", "anonymous", "")


async def test_expired_token_is_401_and_audited(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    now = int(time.time())
    expired = idp.mint(iat=now - 1800, nbf=now - 1800, exp=now - 600)
    cid = uuid.uuid4().hex
    response = await client.get(f"{RUNS}/run-1", headers=_auth(expired, **{"X-Correlation-ID": cid}))
    body = assert_problem(response, 401, "invalid-token", cid)
    assert "expired" in body["detail"]
    assert (await audited(redis, cid))["reason"] == "invalid-token"


async def test_wrong_scope_is_403_and_audited_with_the_client(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    token = idp.token("demo-reader")
    response = await client.post(RUNS, json={}, headers=_auth(token, **{"X-Correlation-ID": cid}))
    body = assert_problem(response, 403, "insufficient-scope", cid)
    assert body["extensions"]["required_scopes"] == ["q2c:write"]
    entry = await audited(redis, cid)
    assert (entry["status"], entry["client"], entry["operation"]) == ("403", "demo-reader", "startQuoteToCashRun")


async def test_unknown_path_is_404_and_known_path_wrong_method_is_405(
    client: AsyncTestClient[Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    cid = uuid.uuid4().hex
    missing = await client.get("/v1/quote-to-cash/nothing", headers=_auth(idp.token(), **{"X-Correlation-ID": cid}))
    assert_problem(missing, 404, "unknown-route", cid)
    assert missing.json()["instance"] == "/v1/quote-to-cash/nothing"
    assert (await audited(redis, cid))["status"] == "404"
    for path in ("/v3/quote-to-cash/runs", "/v9/anything", f"{RUNS}/a/b", f"{RUNS}/..", f"{RUNS}/a%2Fb"):
        assert (await client.get(path, headers=_auth(idp.token()))).status_code == 404, path
    cid = uuid.uuid4().hex
    wrong = await client.delete(f"{RUNS}/run-1", headers=_auth(idp.token(), **{"X-Correlation-ID": cid}))
    assert_problem(wrong, 405, "method-not-allowed", cid)
    assert wrong.headers["allow"] == "GET"
    assert (await audited(redis, cid))["status"] == "405"


async def test_an_anonymous_caller_learns_nothing_about_which_routes_exist(
    client: AsyncTestClient[Litestar], redis: RedisClient
) -> None:
    for method, path in (("GET", "/v1/quote-to-cash/nothing"), ("GET", "/v9/anything"), ("DELETE", f"{RUNS}/run-1")):
        cid = uuid.uuid4().hex
        response = await client.request(method, path, headers={"X-Correlation-ID": cid})
        assert_problem(response, 401, "missing-token", cid)
        assert (await audited(redis, cid))["reason"] == "missing-token"


async def test_upstream_set_cookie_is_not_replayed_to_a_later_caller(
    client: AsyncTestClient[Litestar], idp: RunningIdp
) -> None:
    first = await client.get(f"{RUNS}/run-1", headers=_auth(idp.token()))
    assert first.status_code == 200
    assert "set-cookie" not in first.headers
    client.cookies.clear()
    later = await client.get(f"{RUNS}/run-2", headers=_auth(idp.token("demo-reader")))
    assert later.status_code == 200
    assert "cookie" not in _headers(later.json())


async def test_body_over_the_limit_is_413_declared_or_streamed(
    make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    async with AsyncTestClient(make_gateway(max_body_bytes=1024)) as client:
        cid = uuid.uuid4().hex
        declared = await client.post(RUNS, content=b"x" * 2048, headers=_auth(idp.token(), **{"X-Correlation-ID": cid}))
        assert_problem(declared, 413, "payload-too-large", cid)
        assert (await audited(redis, cid))["status"] == "413"

        padded = b'{"opportunity_id": "0068d00000DEMO1AAA"' + b" " * 900 + b"}"
        fits = await client.post(RUNS, content=padded, headers=_auth(idp.token(), **JSON, **_key()))
        assert fits.status_code == 201

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"y" * 512

    # A chunked body declares no length: the limit must hold while reading. Real HTTP for real chunks.
    with running_server(make_gateway(max_body_bytes=1024)) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            streamed = await http.post(RUNS, content=chunks(), headers=_auth(idp.token(), **JSON))
    assert streamed.status_code == 413
    assert streamed.json()["type"].endswith("/payload-too-large")


async def test_large_responses_stream_through_whole(client: AsyncTestClient[Litestar], idp: RunningIdp) -> None:
    response = await client.get(f"{RUNS}/big?size=1048576", headers=_auth(idp.token()))
    assert response.status_code == 200
    assert len(response.content) == 1_048_576
    small = await client.get(f"{RUNS}/small?size=10", headers=_auth(idp.token()))
    assert (small.content, small.headers["content-length"]) == (b"x" * 10, "10")


async def test_upstream_down_is_503_problem(
    make_gateway: Callable[..., Litestar], idp: RunningIdp, redis: RedisClient
) -> None:
    async with AsyncTestClient(make_gateway(process_url=f"http://127.0.0.1:{free_port()}")) as client:
        for method, path in (("GET", f"{RUNS}/run-1"), ("POST", RUNS)):
            cid = uuid.uuid4().hex
            response = await client.request(
                method,
                path,
                json=START if method == "POST" else None,
                headers=_auth(idp.token(), **{"X-Correlation-ID": cid}, **_key()),
            )
            assert_problem(response, 503, "upstream-unavailable", cid)
            assert (await audited(redis, cid))["status"] == "503"
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "upstream:process" in ready.json()["detail"]
        # Repeated failures open the circuit: callers are refused at once, told when to come back.
        slugs = []
        for _ in range(3):
            response = await client.get(f"{RUNS}/run-1", headers=_auth(idp.token()))
            slugs.append(response.json()["type"].rsplit("/", 1)[1])
        assert slugs[-1] == "circuit-open", slugs
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1


async def test_timeout_is_504_and_only_idempotent_calls_are_retried(
    make_gateway: Callable[..., Litestar], idp: RunningIdp, upstream: FakeUpstream, redis: RedisClient, tmp_path: Path
) -> None:
    config = (Path(__file__).parents[2] / "gateway" / "gateway.toml").read_text()
    path = tmp_path / "gateway.toml"
    path.write_text(config.replace("timeout = 10.0", "timeout = 0.3"))
    async with AsyncTestClient(make_gateway(config_path=str(path))) as client:
        tag = uuid.uuid4().hex
        get = await client.get(f"{RUNS}/slow?delay=1&tag={tag}-get", headers=_auth(idp.token()))
        assert get.status_code == 504, get.text
        assert get.json()["type"].endswith("/upstream-timeout")
        post = await client.post(f"{RUNS}?delay=1&tag={tag}-post", json=START, headers=_auth(idp.token(), **_key()))
        assert post.status_code == 504, post.text
    assert upstream.hits[f"{tag}-get"] == 3  # first try + 2 retries
    assert upstream.hits[f"{tag}-post"] == 1  # never repeated


async def test_ready_when_redis_jwks_and_upstream_answer(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200, response.text
    assert set(response.json()["checks"]) == {"redis", "jwks", "upstream:process"}
    assert (await client.get("/schema/openapi.json")).status_code == 200


def test_an_invalid_config_stops_start_up_naming_line_and_field(tmp_path: Path, redis_url: str) -> None:
    config = (Path(__file__).parents[2] / "gateway" / "gateway.toml").read_text()
    path = tmp_path / "gateway.toml"

    def refused(text: str, pattern: str) -> None:
        path.write_text(text)
        with pytest.raises(ConfigError, match=pattern):
            create_app(GatewaySettings(redis_url=redis_url, config_path=str(path)))

    lines = config.splitlines()
    major_line = next(i for i, line in enumerate(lines) if line == "major = 2" and "[[routes]]" in lines[i - 2]) + 1
    refused(config.replace("major = 2\nprefix", 'major = "2"\nprefix'), rf"line {major_line}:.*\$\.routes\[1\]\.major")
    billing = config.replace('upstream = "process"', 'upstream = "billing"')
    refused(billing, r"unknown upstream 'billing'.*\$\.routes\[0\]")
    refused(config + "\nsurprise = true\n", "surprise")
    gold = config.replace('tier = "restricted"', 'tier = "gold"')
    refused(gold, r"unknown tier 'gold' - at `\$\.clients\[1\]\.tier`")
    refused(
        config.replace("deprecated_at = 2026-11-27T00:00:00Z\n", ""),
        r"deprecated version needs deprecated_at and sunset_at - at `\$\.apis\[0\]\.versions\[0\]\.status`",
    )
    refused(config.replace('name = "process"\ndocuments', 'name = "billing"\ndocuments'), "unknown upstream 'process'")


async def test_tokens_signed_before_and_after_an_idp_key_rotation_both_pass(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    async with AsyncTestClient(make_gateway(jwks_refresh_interval=0)) as client:
        before = idp.mint()
        assert (await client.get(f"{RUNS}/run-1", headers=_auth(before))).status_code == 200
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{idp.url}/__admin/rotate-key", headers=idp.admin)).status_code == 200
        after = idp.mint()
        assert (await client.get(f"{RUNS}/run-1", headers=_auth(after))).status_code == 200
        assert (await client.get(f"{RUNS}/run-2", headers=_auth(before))).status_code == 200


async def test_a_second_authorization_header_is_refused_not_smuggled_through(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    token = idp.token()
    headers = [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer smuggled.second.token")]
    # Real HTTP: the test transport would fold the two header lines into one.
    with running_server(make_gateway()) as base:
        async with httpx.AsyncClient(base_url=base) as http:
            response = await http.get(f"{RUNS}/run-1", headers=headers)
            single = await http.get(f"{RUNS}/run-1", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400, response.text
    assert response.json()["type"].endswith("/duplicate-authorization")
    assert single.status_code == 200, single.text
    assert len(_headers(single.json())["authorization"]) == 1


def test_the_embedded_catalogue_agrees_with_the_contracts_catalogue() -> None:
    # contracts/catalogue.py is what the breaking-change gate and the published documents use;
    # the gateway's lifecycle answers must say the same.
    from contracts.catalogue import CATALOGUE

    config = load_config()
    compared = 0
    for published in (e for e in CATALOGUE if e.api == "gateway"):
        route = next(r for r in config.routes if r.base == published.prefix)
        version = config.version(route.api, route.major)
        assert version is not None
        status = {"current": "active"}.get(published.status, published.status)
        assert version.status == status, published
        if published.status == "deprecated":
            assert version.deprecated_at is not None
            assert version.sunset_at is not None
            assert version.deprecated_at.date() == published.deprecated_on
            assert version.sunset_at.date() == published.sunset_on
            assert f"v{version.successor}" == published.successor
        compared += 1
    assert compared >= 3


def test_the_served_entry_proxies_versioned_paths_and_leaves_the_rest_to_the_app(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    with running_server(Entry(make_gateway())) as url:
        assert httpx.get(f"{url}/health/live").status_code == 200
        assert httpx.get(f"{url}/schema/openapi.json").status_code == 200
        cid = uuid.uuid4().hex
        refused = httpx.get(f"{url}{RUNS}/run-1", headers={"X-Correlation-ID": cid})
        assert_problem(refused, 401, "missing-token", cid)
        proxied = httpx.get(f"{url}{RUNS}/run-42", headers=_auth(idp.token("demo-reader")))
        assert proxied.status_code == 200, proxied.text
        assert proxied.json()["path"] == f"{RUNS}/run-42"
        assert proxied.headers["ratelimit-policy"].startswith('"')
        assert len(proxied.headers["x-correlation-id"]) > 0
