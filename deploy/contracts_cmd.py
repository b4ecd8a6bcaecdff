"""`fig contracts export|check`: the committed OpenAPI documents are generated from code."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

from litestar.serialization import encode_json

from deploy.services import load_factory

__all__ = ["PUBLISHED_APIS", "check_documents", "export_documents", "generate_document"]

#: service name in the stack -> (API name in contracts/openapi, major versions it serves)
PUBLISHED_APIS: dict[str, tuple[str, tuple[str, ...]]] = {
    "process": ("process", ("v1",)),
    "crm": ("crm", ("v1",)),
    "erp": ("erp", ("v1",)),
    "planning": ("planning", ("v1",)),
}

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "contracts" / "openapi"


def generate_document(service: str, version: str) -> dict[str, Any]:
    """Build the service app (nothing is started) and return its OpenAPI document for `version`."""
    os.environ.setdefault("FIG_REDIS_URL", "redis://127.0.0.1:6379/0")
    app = load_factory(service)()
    schema: dict[str, Any] = json.loads(encode_json(app.openapi_schema.to_schema()))
    prefix = f"/{version}/"
    schema["paths"] = {p: op for p, op in schema.get("paths", {}).items() if p.startswith(prefix)}
    return schema


def _render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_documents(root: Path = OPENAPI_DIR) -> list[Path]:
    written = []
    for service, (api, versions) in PUBLISHED_APIS.items():
        for version in versions:
            path = root / api / f"{version}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_render(generate_document(service, version)))
            written.append(path)
    return written


def check_documents(root: Path = OPENAPI_DIR) -> list[str]:
    """Drift between code and committed documents, as readable messages (empty when none)."""
    problems = []
    for service, (api, versions) in PUBLISHED_APIS.items():
        for version in versions:
            path = root / api / f"{version}.json"
            fresh = _render(generate_document(service, version))
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
