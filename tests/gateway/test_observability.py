"""The gateway logs each proxied request once (no token), and counts refusals by policy and reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from gateway.fastpath import FastPath
from servicekit.middleware import ACCESS_LOGGER
from tests.gateway.conftest import RunningIdp

RUNS = "/v1/quote-to-cash/runs"


def access_lines(err: str) -> list[dict[str, Any]]:
    """The access-log lines of proxied paths (the IdP and the fake upstream, served in this process
    for the test, write theirs too)."""
    lines = [msgspec.json.decode(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == ACCESS_LOGGER and line["http_route"].startswith("/v1/")]


def refusals(text: str, policy: str, reason: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "fig_gateway_refusals_total"
        and sample.labels.get("fig_gateway_policy") == policy
        and sample.labels.get("fig_gateway_reason") == reason
    )


async def test_a_proxied_request_is_one_access_line_without_the_token(
    make_gateway: Callable[..., Litestar], idp: RunningIdp, capsys: pytest.CaptureFixture[str]
) -> None:
    token = idp.token(scope="q2c:read")
    async with AsyncTestClient(make_gateway()) as client:
        capsys.readouterr()
        answer = await client.get(
            f"{RUNS}/q2c-1", headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "c-9"}
        )
        err = capsys.readouterr().err
    lines = access_lines(err)
    assert len(lines) == 1, err
    line = lines[0]
    assert line["http_method"] == "GET"
    assert line["http_route"] == "/v1/quote-to-cash/runs/{run_id}"
    assert line["http_status"] == answer.status_code
    assert line["correlation_id"] == "c-9"
    assert line["client"] == "demo"
    assert "duration_ms" in line
    assert token not in err
    assert token.split(".")[1] not in err


async def test_refusals_are_counted_by_policy_and_reason(
    make_gateway: Callable[..., Litestar], idp: RunningIdp
) -> None:
    async with AsyncTestClient(make_gateway()) as client:
        before = (await client.get("/metrics")).text
        assert (await client.get(f"{RUNS}/q2c-1")).status_code == 401
        read_only = idp.token(scope="q2c:read")
        body = {"opportunity_id": "0068d00000DEMO1AAA"}
        headers = {"Authorization": f"Bearer {read_only}", "Idempotency-Key": "k-obs"}
        assert (await client.post(RUNS, json=body, headers=headers)).status_code == 403
        after = (await client.get("/metrics")).text
    assert refusals(after, "authentication", "missing-token") == refusals(before, "authentication", "missing-token") + 1
    assert refusals(after, "scope", "insufficient-scope") == refusals(before, "scope", "insufficient-scope") + 1


def test_with_tracing_off_no_instrumentation_wraps_the_fast_path(make_gateway: Callable[..., Litestar]) -> None:
    # This test process exports no spans (FIG_OTEL_EXPORTER unset): the entry calls `forward` itself.
    fast = make_gateway().asgi_handler
    assert isinstance(fast, FastPath)
    assert fast.enter == fast.forward
    assert fast.enter.__func__ is FastPath.forward  # type: ignore[attr-defined]  # a bound method
