"""The CI gate: a deliberately breaking change to a copy of a committed document fails it, with reasons."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deploy.contracts_cli import contracts
from deploy.contracts_cmd import ALLOWLIST, CONSUMERS_DIR, OPENAPI_DIR, check_consumers, gate_documents, release_tag

RUN_SCHEMA = "QuoteToCashRun"


@pytest.fixture
def copy_root(tmp_path: Path) -> Path:
    """contracts/openapi/process/v1 copied as document and baseline into a scratch `openapi` dir."""
    root = tmp_path / "openapi"
    (root / "process").mkdir(parents=True)
    shutil.copy(OPENAPI_DIR / "process" / "v1.json", root / "process" / "v1.json")
    shutil.copy(OPENAPI_DIR / "process" / "v1.json", root / "process" / "v1.baseline.json")
    return root


def edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def break_it(document: dict[str, Any]) -> None:
    run = document["components"]["schemas"][RUN_SCHEMA]
    run["required"].remove("mapping_version")  # a guaranteed response field becomes optional
    start = document["paths"]["/v1/quote-to-cash/runs"]["post"]
    start["security"] = [{"bearer": ["q2c:write", "q2c:admin"]}]  # a new scope
    del document["paths"]["/v1/quote-to-cash/runs/{run_id}"]  # deprecated, but its sunset is in the future


def test_an_unchanged_copy_passes_the_gate(copy_root: Path) -> None:
    results = gate_documents(copy_root, ALLOWLIST)
    assert results[("process", "v1")][1] == []


def test_breaking_changes_fail_the_gate_with_rule_location_and_reason(copy_root: Path) -> None:
    edit(copy_root / "process" / "v1.json", break_it)

    source, changes = gate_documents(copy_root, ALLOWLIST)[("process", "v1")]

    assert source == "v1.baseline.json"
    found = {(c.rule, c.location) for c in changes if not c.accepted}
    assert ("operation-removed", "GET /v1/quote-to-cash/runs/{run_id}") in found
    assert ("security-scope-added", "POST /v1/quote-to-cash/runs") in found
    assert (
        "response-required-property-removed",
        "POST /v1/quote-to-cash/runs response 202 application/json.mapping_version",
    ) in found
    removed = next(c for c in changes if c.rule == "operation-removed")
    assert removed.message == "operation removed before its sunset"
    assert "q2c:admin" in next(c for c in changes if c.rule == "security-scope-added").message


def test_the_allow_list_accepts_a_recorded_break_only(copy_root: Path, tmp_path: Path) -> None:
    edit(copy_root / "process" / "v1.json", break_it)
    allow = tmp_path / "accepted.toml"
    allow.write_text(
        '[[accepted]]\nrule = "security-scope-added"\nlocation = "POST /v1/quote-to-cash/runs"\n'
        'reason = "q2c:admin rolled out to every client before this release"\n'
    )

    _, changes = gate_documents(copy_root, allow)[("process", "v1")]

    accepted = [c for c in changes if c.accepted]
    assert [c.rule for c in accepted] == ["security-scope-added"]
    assert accepted[0].accepted == "q2c:admin rolled out to every client before this release"
    assert any(c.rule == "operation-removed" and not c.accepted for c in changes)


def test_fig_contracts_diff_exits_1_and_names_each_break(copy_root: Path) -> None:
    new = copy_root / "process" / "v1.json"
    edit(new, break_it)

    result = CliRunner().invoke(contracts, ["diff", str(copy_root / "process" / "v1.baseline.json"), str(new)])

    assert result.exit_code == 1, result.output
    assert "BREAKING operation-removed" in result.output
    assert "BREAKING security-scope-added" in result.output
    assert "not accepted" in result.output.splitlines()[-1]


def test_fig_contracts_diff_exits_0_for_additive_changes(copy_root: Path) -> None:
    new = copy_root / "process" / "v1.json"

    def add(document: dict[str, Any]) -> None:
        document["components"]["schemas"][RUN_SCHEMA]["properties"]["priority"] = {"type": "string"}

    edit(new, add)
    result = CliRunner().invoke(contracts, ["diff", str(copy_root / "process" / "v1.baseline.json"), str(new)])

    assert result.exit_code == 0, result.output
    assert "response-property-added" in result.output


def test_the_committed_documents_pass_the_gate_and_meet_every_consumer() -> None:
    refused = {
        key: [f"{c.rule} {c.location}" for c in changes if not c.accepted]
        for key, (_, changes) in gate_documents().items()
    }
    assert refused == {key: [] for key in refused}
    assert ("process", "v1") in refused
    assert check_consumers() == []


def test_a_document_that_drops_a_field_a_consumer_reads_fails(copy_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    shutil.copytree(OPENAPI_DIR, root)

    def drop(document: dict[str, Any]) -> None:
        del document["components"]["schemas"][RUN_SCHEMA]["properties"]["erp_order_id"]

    edit(root / "gateway" / "v1.json", drop)

    problems = check_consumers(root, CONSUMERS_DIR)

    assert problems == [
        "demo-cli: gateway v1 getQuoteToCashRun: response field `erp_order_id` is missing from a success response"
    ]


def test_a_document_without_an_operation_a_consumer_calls_fails(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    shutil.copytree(OPENAPI_DIR, root)
    edit(root / "erp" / "v1.json", lambda d: d["paths"].pop("/v1/sales-orders/{sales_order_key}"))

    problems = check_consumers(root, CONSUMERS_DIR)

    assert "process-api: erp v1 erp_get_sales_order: the operation is gone" in problems


def test_the_previous_release_tag_is_the_baseline_when_there_is_one(copy_root: Path) -> None:
    repo = copy_root.parent
    (copy_root / "process" / "v1.baseline.json").unlink()

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.email=ci@fig.test", "-c", "user.name=ci", "add", ".")
    git("-c", "user.email=ci@fig.test", "-c", "user.name=ci", "commit", "-qm", "release 1.4")
    git("tag", "v1.4.0")
    edit(copy_root / "process" / "v1.json", break_it)

    source, changes = gate_documents(copy_root, ALLOWLIST, repo=repo)[("process", "v1")]

    assert release_tag(repo) == "v1.4.0"
    assert source == "release v1.4.0"
    assert {c.rule for c in changes if not c.accepted} >= {"operation-removed", "security-scope-added"}
