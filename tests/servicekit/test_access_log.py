"""Every service writes one JSON access-log line per request, without secrets, and can turn it off."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import get
from litestar.params import FromPath
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from servicekit import NotFound, ServiceSettings, create_service_app
from servicekit.middleware import ACCESS_LOGGER

TOKEN = "eyJhbGciOiJFUzI1NiJ9.secret-payload.signature"


@get("/items/{item_id:int}", sync_to_thread=False)
def get_item(item_id: FromPath[int]) -> dict[str, int]:
    if item_id == 0:
        raise NotFound("item 0 does not exist")
    return {"id": item_id}


def make_app(access_log: bool) -> Any:
    settings = ServiceSettings(auth_required=False, access_log=access_log)
    return create_service_app(name="t", settings=settings, route_handlers=[get_item], use_redis=False)


def access_lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    """The access-log lines the service wrote to stderr (its JSON log stream), and all of stderr."""
    err = capsys.readouterr().err
    lines = [msgspec.json.decode(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == ACCESS_LOGGER], err


async def test_one_json_line_per_request_with_route_template_status_and_ids(capsys: pytest.CaptureFixture[str]) -> None:
    async with AsyncTestClient(make_app(access_log=True)) as client:
        answer = await client.get(
            "/items/42", headers={"X-Correlation-ID": "cid-123", "Authorization": f"Bearer {TOKEN}"}
        )
        assert answer.status_code == 200
        missing = await client.get("/items/0")
    lines, err = access_lines(capsys)
    assert len(lines) == 2
    first = lines[0]
    assert first["level"] == "info"
    assert first["http_method"] == "GET"
    assert first["http_route"] == "/items/{item_id}"
    assert first["service"] == "t"
    assert first["http_status"] == 200
    assert first["duration_ms"] >= 0
    assert first["correlation_id"] == "cid-123"
    assert len(first["trace_id"]) == 32
    assert missing.status_code == 404
    assert lines[1]["http_status"] == 404
    assert "secret-payload" not in err


async def test_the_access_log_can_be_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    async with AsyncTestClient(make_app(access_log=False)) as client:
        assert (await client.get("/items/1")).status_code == 200
    assert access_lines(capsys)[0] == []


async def test_metrics_are_served_outside_the_openapi_document() -> None:
    async with AsyncTestClient(make_app(access_log=False)) as client:
        assert (await client.get("/items/1")).status_code == 200
        scraped = await client.get("/metrics")
        schema = await client.get("/schema/openapi.json")
    assert scraped.status_code == 200
    names = {sample.name for family in text_string_to_metric_families(scraped.text) for sample in family.samples}
    assert "http_server_request_duration_seconds_count" in names
    assert "/metrics" not in schema.json()["paths"]
