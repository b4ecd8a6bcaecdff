"""A synthetic `ledger` contract and gateway config for policy tests (written to a temp dir).

Versions: v1 retired (successor v3), v2 deprecated (successor v3), v3 active. v3 has a query-
parameter operation, a path-entity operation, an operation needing two scopes and a financially
material POST with a JSON body,
whose documented 201 answer needs a `journal_id` the fake upstream never sends (so report-only
response validation has something to report).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["LEDGER_CONFIG", "write_ledger"]

_SEC_READ = [{"bearer": ["ledger:read"]}]
_SEC_WRITE = [{"bearer": ["ledger:write"]}]
_ENTITY = {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}$"}


def _entries(version: int) -> dict[str, Any]:
    return {
        f"/v{version}/ledger/entries": {
            "get": {
                "operationId": f"listEntriesV{version}",
                "security": _SEC_READ,
                "parameters": [
                    {"name": "legal_entity", "in": "query", "required": True, "schema": _ENTITY},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                    {"name": "since", "in": "query", "schema": {"type": ["null", "string"], "format": "date"}},
                    {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
                    {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "integer"}}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        }
    }


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "ledger", "version": "3"},
    "paths": {
        **_entries(1),
        **_entries(2),
        **_entries(3),
        "/v3/ledger/entities/{legal_entity}/balance": {
            "get": {
                "operationId": "getBalance",
                "security": _SEC_READ,
                "parameters": [{"name": "legal_entity", "in": "path", "required": True, "schema": _ENTITY}],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/v3/ledger/journals": {
            "post": {
                "operationId": "postJournal",
                "x-financially-material": True,
                "security": _SEC_WRITE,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Journal"}}},
                },
                "responses": {
                    "201": {
                        "description": "posted",
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "required": ["journal_id"]},
                            }
                        },
                    }
                },
            }
        },
        "/v3/ledger/periods/{period}/close": {
            "post": {
                "operationId": "closePeriod",
                # One requirement naming two scopes: the token needs both (OpenAPI security semantics).
                "security": [{"bearer": ["ledger:write", "ledger:close"]}],
                "parameters": [{"name": "period", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "closed"}},
            }
        },
        "/v3/ledger/notes": {
            "post": {
                "operationId": "postNote",
                "security": _SEC_WRITE,
                "requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}}},
                "responses": {"201": {"description": "noted"}},
            }
        },
    },
    "components": {
        "schemas": {
            "Journal": {
                "type": "object",
                "required": ["legal_entity", "amount", "lines"],
                "properties": {
                    "legal_entity": _ENTITY,
                    "amount": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$"},
                    "booked_on": {"type": "string", "format": "date"},
                    "lines": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["account"],
                            "properties": {"account": {"type": "string"}, "legal_entity": _ENTITY},
                        },
                    },
                },
                "additionalProperties": False,
            }
        }
    },
}

LEDGER_CONFIG = """
[[upstreams]]
name = "process"
documents = ["ledger/v1.json"]
timeout = 5.0
retries = 0

[[routes]]
api = "ledger"
major = 1
prefix = "/ledger"
upstream = "process"

[[routes]]
api = "ledger"
major = 2
prefix = "/ledger"
upstream = "process"

[[routes]]
api = "ledger"
major = 3
prefix = "/ledger"
upstream = "process"
tier = "metered"
validate_responses = true

[[apis]]
name = "ledger"
[[apis.versions]]
major = 1
status = "retired"
successor = 3
[[apis.versions]]
major = 2
status = "deprecated"
deprecated_at = 2026-06-01T00:00:00Z
sunset_at = 2027-01-31T00:00:00Z
successor = 3
[[apis.versions]]
major = 3

[[tiers]]
name = "standard"
limits.default = { requests = 1000, period = 60.0 }
limits.metered = { requests = LIMIT, period = 60.0 }

[[clients]]
client_id = "demo"
legal_entities = ["US01", "DE01"]
apis = { "ledger" = [1, 2, 3] }

[[clients]]
client_id = "demo-reader"
apis = { "ledger" = [3] }
"""


def write_ledger(directory: Path, limit: int = 1000) -> dict[str, Any]:
    """Write the document and config under `directory`; returns the gateway settings to use them."""
    (directory / "ledger").mkdir(parents=True, exist_ok=True)
    (directory / "ledger" / "v1.json").write_text(json.dumps(DOCUMENT))
    config = directory / "gateway.toml"
    config.write_text(LEDGER_CONFIG.replace("LIMIT", str(limit)))
    return {"config_path": str(config), "openapi_dir": str(directory)}
