"""What every committed OpenAPI document promises its readers (contracts/openapi/<api>/<version>.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts.catalogue import entry
from contracts.money import DECIMAL_PATTERN
from deploy.contracts_cmd import GATEWAY_URL, OPENAPI_DIR, PUBLISHED_APIS

DOCUMENTS = [(api, version) for api, (_, versions) in PUBLISHED_APIS.items() for version in versions]
PROBLEM_REF = "#/components/schemas/Problem"
#: Request bodies without an example; every body has one now, so a new operation without one fails.
KNOWN_MISSING_EXAMPLES: set[tuple[str, str]] = set()


def load(api: str, version: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((OPENAPI_DIR / api / f"{version}.json").read_text())
    return document


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{method.upper()} {path}", op) for path, item in document["paths"].items() for method, op in item.items()]


@pytest.fixture(params=DOCUMENTS, ids=[f"{a}-{v}" for a, v in DOCUMENTS])
def document(request: pytest.FixtureRequest) -> tuple[str, str, dict[str, Any]]:
    api, version = request.param
    return api, version, load(api, version)


def test_every_published_version_is_committed_and_in_the_catalogue() -> None:
    for api, version in DOCUMENTS:
        assert (OPENAPI_DIR / api / f"{version}.json").exists()
        assert entry(api, version) is not None, (api, version)


def test_operation_ids_are_explicit_and_unique(document: tuple[str, str, dict[str, Any]]) -> None:
    _, version, doc = document
    ids = [op.get("operationId") for _, op in operations(doc)]
    assert all(ids), ids
    assert len(ids) == len(set(ids))
    assert all(path.startswith(f"/{version}/") for path in doc["paths"])


def test_every_error_is_documented_as_problem_json(document: tuple[str, str, dict[str, Any]]) -> None:
    _, _, doc = document
    for name, op in operations(doc):
        responses = op["responses"]
        for status in ("400", "500", "401", "403"):
            assert status in responses, f"{name} does not document {status}"
        assert any(s.startswith("2") for s in responses), name
        for status, response in responses.items():
            if status.startswith("2"):
                continue
            content = response.get("content", {})
            assert list(content) == ["application/problem+json"], f"{name} {status}: {list(content)}"
            assert content["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
            assert response["description"]
        if any(p.get("in") == "path" for p in op.get("parameters", [])):
            assert "404" in responses, name


def test_every_operation_states_the_scopes_it_needs(document: tuple[str, str, dict[str, Any]]) -> None:
    _, _, doc = document
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert scheme == {"bearerFormat": "JWT", "scheme": "bearer", "type": "http"}
    for name, op in operations(doc):
        assert op.get("security"), name
        assert all(scopes for requirement in op["security"] for scopes in requirement.values()), name


def test_request_bodies_carry_examples_that_match_nothing_invented(document: tuple[str, str, dict[str, Any]]) -> None:
    api, _, doc = document
    missing = set()
    for name, op in operations(doc):
        for media in op.get("requestBody", {}).get("content", {}).values():
            if not media.get("examples"):
                missing.add((api, name))
    assert missing <= KNOWN_MISSING_EXAMPLES
    assert "generate_examples" not in json.dumps(doc)


def _closed(doc: dict[str, Any], schema: Any, seen: set[str]) -> list[str]:
    """Names of object schemas reachable from `schema` that do not say `additionalProperties: false`."""
    if isinstance(schema, list):
        return [name for item in schema for name in _closed(doc, item, seen)]
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        target = doc["components"]["schemas"][name]
        open_here = [name] if target.get("properties") and target.get("additionalProperties") is not False else []
        return open_here + _closed(doc, target, seen)
    return [name for value in schema.values() for name in _closed(doc, value, seen)]


def test_every_command_schema_refuses_unknown_properties(document: tuple[str, str, dict[str, Any]]) -> None:
    """Every service decodes bodies with unknown fields refused; the documents say so."""
    _, _, doc = document
    for name, op in operations(doc):
        body = op.get("requestBody", {}).get("content", {})
        assert not _closed(doc, body, set()), name


def test_every_list_operation_publishes_its_page_bounds(document: tuple[str, str, dict[str, Any]]) -> None:
    """`limit` has a published minimum of 1 and a maximum (the services answer 400 outside them)."""
    _, _, doc = document
    for name, op in operations(doc):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "query" and parameter["name"] == "limit":
                schema = parameter["schema"]
                assert schema.get("minimum") == 1, name
                assert 1 < schema.get("maximum", 0) <= 500, name
        cursors = [p for p in op.get("parameters", []) if p["in"] == "query" and p["name"] == "cursor"]
        for cursor in cursors:
            # An opaque cursor the API did not issue is a documented 400; a numeric one has a pattern.
            documented = "invalid-cursor" in op["responses"]["400"]["description"]
            assert documented or "pattern" in json.dumps(cursor["schema"]), name


def test_money_amounts_are_published_with_the_finite_decimal_pattern() -> None:
    for api in ("crm", "erp", "planning"):
        money = load(api, "v1")["components"]["schemas"]["Money"]
        assert money["properties"]["amount"]["pattern"] == DECIMAL_PATTERN, api


def test_financially_material_operations_are_marked() -> None:
    for api, version, path in (
        ("process", "v1", "/v1/quote-to-cash/runs"),
        ("process", "v2", "/v2/quote-to-cash/runs"),
        ("gateway", "v2", "/v2/quote-to-cash/runs"),
    ):
        assert load(api, version)["paths"][path]["post"]["x-financially-material"] is True
    assert "x-financially-material" not in load("process", "v2")["paths"]["/v2/quote-to-cash/runs/{run_id}"]["get"]


def test_the_gateway_document_requires_an_idempotency_key_where_material() -> None:
    for version in ("v1", "v2"):
        doc = load("gateway", version)
        assert doc["servers"][0]["url"] == GATEWAY_URL
        for name, op in operations(doc):
            keys = [p for p in op.get("parameters", []) if p["name"] == "Idempotency-Key"]
            if op.get("x-financially-material"):
                assert keys, name
                assert keys[0]["required"] is True, name
                assert {"409", "422", "429"} <= set(op["responses"]), name
            else:
                assert not keys, name


def test_quote_to_cash_v1_is_deprecated_with_its_catalogue_sunset_and_v2_is_not() -> None:
    found = entry("process", "v1", "/v1/quote-to-cash/runs")
    assert found is not None
    assert found.sunset_on is not None
    for name, op in operations(load("process", "v1")):
        if "/v1/quote-to-cash/" in name:
            assert op["deprecated"] is True, name
            assert op["x-sunset"] == found.sunset_on.isoformat()
        else:  # the exception queue and controls have no successor yet
            assert not op.get("deprecated"), name
    assert all(not op.get("deprecated") for _, op in operations(load("process", "v2")))


def test_v2_run_model_has_lines_and_totals_as_decimal_strings() -> None:
    schemas = load("process", "v2")["components"]["schemas"]
    run = schemas["QuoteToCashRunV2"]
    assert {"lines", "totals", "erp"} <= set(run["required"])
    assert run["properties"]["totals"]["items"] == {"$ref": "#/components/schemas/Money"}
    assert schemas["Money"]["properties"]["amount"] == {"type": "string"}
    assert schemas["OrderLineV2"]["properties"]["quantity"] == {"type": "string"}


def test_consumers_and_allow_list_files_parse(tmp_path: Path) -> None:
    from contracts.compat import load_allowlist, load_consumers
    from deploy.contracts_cmd import ALLOWLIST, CONSUMERS_DIR

    assert all(len(a.reason) > 40 for a in load_allowlist(ALLOWLIST))
    assert {c.consumer for c in load_consumers(CONSUMERS_DIR)} >= {"demo-cli", "process-api"}
    bad = tmp_path / "bad.toml"
    bad.write_text('consumer = "x"\n[[uses]]\napi = "gateway"\n')
    with pytest.raises(ValueError, match=r"bad\.toml"):
        load_consumers(tmp_path)
