"""`fig contracts test`: schemathesis against a running service, JUnit XML and an exit code for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import msgspec
import pytest
from click.testing import CliRunner
from litestar import Litestar, get, post
from litestar.params import FromPath, JSONBody
from litestar.serialization import encode_json

from deploy.contracts_cli import contracts
from servicekit import NotFound, ServiceSettings, StrictBody, create_service_app, require_scopes
from tests.support import running_server
from tests.tokens import TestIssuer


class Box(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=20, examples=["spare parts"])]


BOXES: dict[str, Box] = {}


@post("/v1/boxes", operation_id="createBox", dto=StrictBody[Box], return_dto=None, guards=[require_scopes("box:write")])
async def create_box(data: JSONBody[Box]) -> dict[str, str]:
    BOXES[data.label] = data
    return {"label": data.label}


@get("/v1/boxes/{label:str}", operation_id="getBox", guards=[require_scopes("box:read")])
async def get_box(label: FromPath[str]) -> dict[str, str]:
    if label not in BOXES:
        raise NotFound(f"no box {label}")
    return {"label": label}


@get("/v1/broken/{label:str}", operation_id="getBroken", guards=[require_scopes("box:read")])
async def broken(label: FromPath[str]) -> dict[str, str]:
    """A defect for the suite to find: any label containing a digit crashes."""
    if any(c.isdigit() for c in label):
        raise RuntimeError("boom")
    return {"label": label}


@pytest.fixture(scope="module")
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture(scope="module")
def service(issuer: TestIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """The service on a socket, plus its document with and without the broken operation."""
    with issuer.serve() as idp_url:
        settings = ServiceSettings(idp_url=idp_url, token_issuer=issuer.issuer)
        app: Litestar = create_service_app(
            name="boxes", settings=settings, route_handlers=[create_box, get_box, broken], use_redis=False
        )
        document = json.loads(encode_json(app.openapi_schema.to_schema()))
        docs = tmp_path_factory.mktemp("docs")
        full, good = docs / "full.json", docs / "good.json"
        full.write_text(json.dumps(document))
        del document["paths"]["/v1/broken/{label}"]
        good.write_text(json.dumps(document))
        with running_server(app) as base:
            yield base, good, full


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(contracts, ["test", *args])
    return result.exit_code, result.output


def test_a_conforming_service_passes_with_a_junit_report(
    service: tuple[str, Path, Path], issuer: TestIssuer, tmp_path: Path
) -> None:
    base, good, _ = service
    token = issuer.mint(["box:read", "box:write"])
    junit = tmp_path / "report.xml"

    code, output = run(
        [
            "--base-url",
            base,
            "--api",
            "boxes",
            "--version",
            "v1",
            "--document",
            str(good),
            "--token",
            token,
            "--junit",
            str(junit),
            "--max-examples",
            "5",
        ]
    )

    assert code == 0, output
    names = {case.get("name") for case in ET.parse(junit).getroot().iter("testcase")}
    assert {"POST /v1/boxes", "GET /v1/boxes/{label}"} <= names
    assert "generated" in output


def test_a_defect_fails_the_run_and_is_named_in_the_report(
    service: tuple[str, Path, Path], issuer: TestIssuer, tmp_path: Path
) -> None:
    base, _, full = service
    junit = tmp_path / "report.xml"

    code, output = run(
        [
            "--base-url",
            base,
            "--api",
            "boxes",
            "--version",
            "v1",
            "--document",
            str(full),
            "--token",
            issuer.mint(["box:read", "box:write"]),
            "--junit",
            str(junit),
            "--max-examples",
            "10",
        ]
    )

    assert code == 1
    assert "failed GET /v1/broken/{label}" in output
    failed = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert failed == ["GET /v1/broken/{label}"]


def test_a_token_the_service_refuses_stops_the_run_with_exit_2(
    service: tuple[str, Path, Path], issuer: TestIssuer, tmp_path: Path
) -> None:
    base, good, _ = service
    stranger = TestIssuer(issuer=issuer.issuer)  # same issuer name, another key: signature fails

    code, output = run(
        [
            "--base-url",
            base,
            "--api",
            "boxes",
            "--version",
            "v1",
            "--document",
            str(good),
            "--token",
            stranger.mint(["box:read", "box:write"]),
            "--junit",
            str(tmp_path / "r.xml"),
        ]
    )

    assert code == 2
    assert "refused the token (401)" in output
    assert not (tmp_path / "r.xml").exists()


def test_a_token_without_the_scopes_is_refused_too(service: tuple[str, Path, Path], issuer: TestIssuer) -> None:
    base, good, _ = service
    code, output = run(
        ["--base-url", base, "--api", "boxes", "--version", "v1", "--document", str(good), "--token", issuer.mint([])]
    )
    assert code == 2
    assert "(403)" in output
