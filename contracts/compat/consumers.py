"""Consumer expectations: which operations and response fields a client integration relies on.

One TOML file per consumer in `contracts/consumers/`:

```toml
consumer = "demo-cli"
contact = "finance-integration team"

[[uses]]
api = "gateway"
version = "v1"
operation = "startQuoteToCashRun"       # operationId
fields = ["id", "state", "gates[].gate"] # in every 2xx JSON response; `[]` steps into array items
```

`check_consumer` reports each expectation a document no longer meets: the operation is gone, or a
field is absent from a success response.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from contracts.compat.diff import operations
from contracts.compat.schema import View

__all__ = ["ConsumerExpectations", "Expectation", "check_consumer", "load_consumers"]


class Expectation(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """One operation of one API version the consumer calls, and the response fields it reads."""

    api: str
    version: str
    operation: str
    fields: list[str] = msgspec.field(default_factory=list)


class ConsumerExpectations(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    consumer: str
    uses: list[Expectation]
    contact: str | None = None
    description: str | None = None


def load_consumers(directory: Path) -> list[ConsumerExpectations]:
    """Every `*.toml` in `directory`, sorted by file name; a malformed file raises ValueError."""
    found = []
    for path in sorted(directory.glob("*.toml")):
        try:
            found.append(msgspec.convert(tomllib.loads(path.read_text()), ConsumerExpectations))
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            raise ValueError(f"{path}: {exc}") from None
    return found


def _has_field(view: View, steps: list[str], depth: int = 0) -> bool:
    if not steps:
        return True
    if depth > 32:
        return False
    step, rest = steps[0], steps[1:]
    for key in ("oneOf", "anyOf", "allOf"):
        branches = view.get(key)
        if isinstance(branches, list) and branches:
            hits = [_has_field(view.child(b), steps, depth + 1) for b in branches]
            # allOf: one part carrying the field is enough; oneOf/anyOf: every alternative must have it.
            return any(hits) if key == "allOf" else all(hits)
    if step.endswith("[]"):
        name = step[:-2]
        prop = view.properties.get(name) if name else None
        target = view.child(prop) if name else view
        if prop is None and name:
            return False
        items = target.get("items")
        return items is not None and _has_field(target.child(items), rest, depth + 1)
    prop = view.properties.get(step)
    return prop is not None and _has_field(view.child(prop), rest, depth + 1)


def check_consumer(
    expectations: ConsumerExpectations, documents: Mapping[tuple[str, str], Mapping[str, Any]]
) -> list[str]:
    """What `documents` (by (api, version)) no longer give this consumer; empty when all is met."""
    problems = []
    for use in expectations.uses:
        where = f"{expectations.consumer}: {use.api} {use.version} {use.operation}"
        document = documents.get((use.api, use.version))
        if document is None:
            problems.append(f"{where}: no published document {use.api}/{use.version}")
            continue
        by_id = {op.get("operationId"): op for _, op, _ in operations(document).values()}
        operation = by_id.get(use.operation)
        if operation is None:
            problems.append(f"{where}: the operation is gone")
            continue
        bodies = [
            media.get("schema", {})
            for status, response in (operation.get("responses") or {}).items()
            if str(status).startswith("2")
            for media_type, media in (View(document, response).get("content") or {}).items()
            if "json" in media_type
        ]
        for field in use.fields:
            missing = [i for i, body in enumerate(bodies) if not _has_field(View(document, body), field.split("."))]
            if not bodies or missing:
                problems.append(f"{where}: response field `{field}` is missing from a success response")
    return problems
