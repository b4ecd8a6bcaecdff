"""`fig contracts export|check`: the committed OpenAPI documents are generated from code and governed.

`check` fails on: drift (code and committed document differ), a breaking change against the
baseline inside the same major version (unless the allow-list accepts it), and a document that
would break a declared consumer (`contracts/consumers/*.toml`).
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from litestar.serialization import encode_json

from contracts.catalogue import entry
from contracts.compat import Change, apply_allowlist, check_consumer, diff_documents, load_allowlist, load_consumers
from deploy.services import load_factory
from servicekit.openapi import FINANCIALLY_MATERIAL_EXTENSION

__all__ = [
    "ALLOWLIST",
    "CONSUMERS_DIR",
    "GATEWAY_URL",
    "OPENAPI_DIR",
    "PUBLISHED_APIS",
    "baseline_document",
    "check_consumers",
    "check_documents",
    "documents",
    "export_documents",
    "gate_documents",
    "generate_document",
    "release_tag",
    "write_baselines",
]

#: API name in contracts/openapi -> (service that serves it, major versions it publishes)
PUBLISHED_APIS: dict[str, tuple[str, tuple[str, ...]]] = {
    "process": ("process", ("v1", "v2")),
    "crm": ("crm", ("v1",)),
    "erp": ("erp", ("v1",)),
    "planning": ("planning", ("v1",)),
    "gateway": ("process", ("v1", "v2")),
}

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_DIR = ROOT / "contracts" / "openapi"
CONSUMERS_DIR = ROOT / "contracts" / "consumers"
ALLOWLIST = OPENAPI_DIR / "accepted-breaks.toml"
#: The local gateway (`fig up`); deployments list their own server when they publish the document.
GATEWAY_URL = "http://127.0.0.1:8000"
#: Problem statuses the gateway adds to every operation it forwards.
_GATEWAY_PROBLEMS = {
    "401": "No, expired or invalid bearer token, or a client the gateway does not know",
    "403": "The token lacks a scope or legal entity this operation needs",
    "413": "The request body is larger than the gateway accepts",
    "429": "The client's rate limit is used up; retry after `Retry-After` seconds",
    "502": "The upstream service answered outside its contract",
    "503": "The upstream service is unavailable or its circuit is open; retry after `Retry-After` seconds",
    "504": "The upstream service did not answer in time",
}
#: What the gateway adds to an upstream's documented 503.
_GATEWAY_UNAVAILABLE = (
    "the upstream service is unavailable or its circuit is open, or the gateway's rate-limit or "
    "idempotency store is down (rate-limit-unavailable, idempotency-unavailable)"
)


@functools.cache
def _service_json(service: str) -> bytes:
    os.environ.setdefault("FIG_REDIS_URL", "redis://127.0.0.1:6379/0")
    return encode_json(load_factory(service)().openapi_schema.to_schema())


def _service_document(service: str) -> dict[str, Any]:
    # One app build per service and process: the gateway and both versions share the process API's.
    schema: dict[str, Any] = json.loads(_service_json(service))
    return schema


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _add_problem(operation: dict[str, Any], status: str, description: str) -> None:
    """Document a gateway refusal, keeping the upstream's own description of the same status."""
    existing = operation["responses"].get(status)
    if existing is None:
        operation["responses"][status] = _problem(description[0].upper() + description[1:])
    elif description not in existing.get("description", ""):
        existing["description"] = f"{existing.get('description', '')}; or {description}".lstrip("; ")


def _apply_catalogue(document: dict[str, Any], api: str, version: str) -> None:
    """Mark the operations of a deprecated catalogue entry (those under its prefix) with `x-sunset`."""
    for path, item in document["paths"].items():
        found = entry(api, version, path)
        if found is None or found.status != "deprecated":
            continue
        for operation in item.values():
            operation["deprecated"] = True
            if found.sunset_on:
                operation["x-sunset"] = found.sunset_on.isoformat()


def _as_gateway(document: dict[str, Any]) -> dict[str, Any]:
    """The gateway's public surface: the process API's operations, the gateway as server, its refusals."""
    document["info"] = {
        **document.get("info", {}),
        "title": "Finance Integration Gateway public API",
        "description": (
            "The quote-to-cash operations client integrations call, through the policy gateway: "
            "bearer tokens from the identity provider, rate limits, and an `Idempotency-Key` on "
            "every operation marked `x-financially-material`."
        ),
    }
    document["servers"] = [{"url": GATEWAY_URL, "description": "local gateway (fig up)"}]
    for item in document["paths"].values():
        for operation in item.values():
            for status, description in _GATEWAY_PROBLEMS.items():
                operation["responses"].setdefault(status, _problem(description))
            # The upstream's 503 (with its Retry-After) stays; the gateway's own reasons are added.
            _add_problem(operation, "503", _GATEWAY_UNAVAILABLE)
            if "requestBody" in operation:
                _add_problem(operation, "415", "the body is not application/json")
            if operation.get(FINANCIALLY_MATERIAL_EXTENSION):
                parameters = operation.setdefault("parameters", [])
                parameters.append(
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": True,
                        "description": "Unique per intended effect; a retry with the same key replays the first answer",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
                    }
                )
                _add_problem(operation, "400", "missing-idempotency-key or invalid-idempotency-key")
                _add_problem(operation, "409", "a request with this Idempotency-Key is still in flight")
                _add_problem(operation, "422", "idempotency-key-reused: the key was used with another body")
    return document


def generate_document(api: str, version: str) -> dict[str, Any]:
    """Build the serving app (nothing is started) and return the published document of `api` `version`."""
    service, _ = PUBLISHED_APIS[api]
    schema = _service_document(service)
    prefix = f"/{version}/"
    schema["paths"] = {p: op for p, op in schema.get("paths", {}).items() if p.startswith(prefix)}
    if api == "gateway":
        schema = _as_gateway(schema)
    _apply_catalogue(schema, api, version)
    return schema


def _render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _published() -> list[tuple[str, str]]:
    return [(api, version) for api, (_, versions) in PUBLISHED_APIS.items() for version in versions]


def export_documents(root: Path = OPENAPI_DIR) -> list[Path]:
    written = []
    for api, version in _published():
        path = root / api / f"{version}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(generate_document(api, version)))
        written.append(path)
    return written


def check_documents(root: Path = OPENAPI_DIR) -> list[str]:
    """Drift between code and committed documents, as readable messages (empty when none)."""
    problems = []
    for api, version in _published():
        path = root / api / f"{version}.json"
        fresh = _render(generate_document(api, version))
        if not path.exists():
            problems.append(f"{path}: not committed (run `fig contracts export`)")
            continue
        committed = path.read_text()
        if committed != fresh:
            diff = difflib.unified_diff(
                committed.splitlines(),
                fresh.splitlines(),
                f"{path} (committed)",
                f"{api} {version} (code)",
                lineterm="",
                n=1,
            )
            shown = "\n".join(list(diff)[:40])
            problems.append(f"{path}: drifted from code (run `fig contracts export` and review):\n{shown}")
    return problems


def documents(root: Path = OPENAPI_DIR) -> dict[tuple[str, str], dict[str, Any]]:
    """The committed documents by (api, version)."""
    found = {}
    for path in sorted(root.glob("*/v*.json")):
        if not path.name.endswith(".baseline.json"):
            found[(path.parent.name, path.stem)] = json.loads(path.read_text())
    return found


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)  # noqa: S603, S607


def release_tag(repo: Path = ROOT) -> str | None:
    """The newest `v<N>...` tag reachable from HEAD (the previous release), or None."""
    described = _git(repo, "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*")
    return (described.stdout.strip() or None) if described.returncode == 0 else None


def baseline_document(
    api: str, version: str, root: Path = OPENAPI_DIR, repo: Path | None = ROOT
) -> tuple[str, dict[str, Any]] | None:
    """The document to compare against: the previous release tag's (when `root` is inside the git
    work tree `repo` and the tag has the document), else the committed `<version>.baseline.json`."""
    tag = release_tag(repo) if repo is not None and root.is_relative_to(repo) else None
    if tag and repo is not None:
        relative = (root / api / f"{version}.json").relative_to(repo).as_posix()
        shown = _git(repo, "show", f"{tag}:{relative}")
        if shown.returncode == 0:
            return f"release {tag}", json.loads(shown.stdout)
    path = root / api / f"{version}.baseline.json"
    if path.exists():
        return path.name, json.loads(path.read_text())
    return None


def write_baselines(root: Path = OPENAPI_DIR) -> list[Path]:
    """Snapshot every committed document as its baseline (do this when a version is released)."""
    written = []
    for (api, version), document in documents(root).items():
        path = root / api / f"{version}.baseline.json"
        path.write_text(_render(document))
        written.append(path)
    return written


def gate_documents(
    root: Path = OPENAPI_DIR, allowlist: Path = ALLOWLIST, today: date | None = None, repo: Path | None = ROOT
) -> dict[tuple[str, str], tuple[str, list[Change]]]:
    """Per committed document: (what it was compared with, its breaking changes, accepted ones included).

    Only documents with a baseline are compared; a new major version starts its own line."""
    accepted = load_allowlist(allowlist)
    today = today or datetime.now(UTC).date()
    results = {}
    for (api, version), document in documents(root).items():
        baseline = baseline_document(api, version, root, repo)
        if baseline is None:
            continue
        source, old = baseline
        changes = apply_allowlist(diff_documents(old, document, today=today), accepted, api=api, version=version)
        results[(api, version)] = (source, [c for c in changes if c.breaking])
    return results


def check_consumers(root: Path = OPENAPI_DIR, consumers: Path = CONSUMERS_DIR) -> list[str]:
    """Every declared consumer expectation the committed documents no longer meet."""
    published = documents(root)
    return [problem for consumer in load_consumers(consumers) for problem in check_consumer(consumer, published)]
