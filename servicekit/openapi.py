"""What every published OpenAPI document states beyond Litestar's defaults, derived from the handlers.

Before the schema is built (`document_handlers`):
- `security` from `require_scopes(...)` guards (so the document states what the code enforces);
- the problem+json statuses every operation can answer: 400, 500 and 503 always, 401 and 403 when it
  is guarded, 404 when it has path parameters; each as `application/problem+json` with the `Problem`
  schema. A handler's own `responses` entry for a status wins (it usually has the better description).
  Every service answers 503 when a dependency is down (its Redis, or the system behind it), always
  with `Retry-After`, which `finish_document` declares on every 503.
- `x-financially-material: true` on handlers marked `opt=financially_material()`: those that post
  money or start workflows, where the gateway requires an `Idempotency-Key`.

After it is built (`finish_document`): request-body examples, taken from the handler's
`opt=request_examples(...)` or else assembled from the field-level `examples` of the body model
(declared by the model, never invented), and OpenAPI links (`opt=response_links(...)`). Then the
command (request body) schemas say what the strict decoder enforces (`closed_commands`):
`additionalProperties: false` on every msgspec Struct with `forbid_unknown_fields`, a field's
`pattern` declared in its `msgspec.Meta(extra_json_schema=...)`, and the decimal-string pattern on
every `Decimal` (Litestar 2.x publishes none of them).

`allow_header_fix` repairs Litestar 2.x's automatic `OPTIONS` answer, which lists only some of a
path's methods in `Allow` (litestar#4169, fixed only in Litestar 3).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Example,
    Link,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from contracts import Problem
from contracts.headers import PROBLEM_JSON
from contracts.money import DECIMAL_PATTERN
from servicekit.auth import ScopeGuard

__all__ = [
    "FINANCIALLY_MATERIAL",
    "FINANCIALLY_MATERIAL_EXTENSION",
    "REQUEST_EXAMPLES",
    "RESPONSE_LINKS",
    "FinanciallyMaterialOperation",
    "allow_header_fix",
    "closed_commands",
    "document_handlers",
    "financially_material",
    "finish_document",
    "problem_spec",
    "request_examples",
    "response_links",
]

#: Handler `opt` key marking an operation that posts money or starts a workflow.
FINANCIALLY_MATERIAL = "financially_material"
#: The OpenAPI extension the marker becomes; the gateway requires `Idempotency-Key` on these.
FINANCIALLY_MATERIAL_EXTENSION = "x-financially-material"
#: Handler `opt` key holding named request-body examples (`{"name": body}`).
REQUEST_EXAMPLES = "request_examples"
#: Handler `opt` key holding OpenAPI links from its 2xx responses (`{"name": (operationId, params)}`).
RESPONSE_LINKS = "response_links"

_CONVERTER = re.compile(r"\{(\w+):[^}]*\}")

#: Default descriptions of the problem statuses added to every document.
_DEFAULT_PROBLEMS = {
    400: "The request does not match the contract (invalid-request, malformed-json)",
    401: "No, expired or invalid bearer token",
    403: "The token lacks a scope this operation needs",
    404: "No such resource",
    500: "The service failed; quote the correlation id to the operators",
    503: (
        "A dependency is unavailable (dependency-unavailable: the service's data store; or the system "
        "behind it); retry after `Retry-After` seconds"
    ),
}
#: The header every 503 carries (seconds to wait before retrying).
RETRY_AFTER_HEADER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    required=True,
    description="Seconds to wait before retrying",
)


@dataclass
class FinanciallyMaterialOperation(Operation):
    """An `Operation` carrying `x-financially-material: true` (set by the app factory, not by hand)."""

    x_financially_material: bool = field(default=True, metadata={"alias": FINANCIALLY_MATERIAL_EXTENSION})


def financially_material(**opt: Any) -> dict[str, Any]:
    """Handler `opt` for an operation that posts money or starts a workflow.

    `@post(..., opt=financially_material())` publishes `x-financially-material: true`; callers must
    then send an `Idempotency-Key` (the gateway refuses the call without one).
    """
    return {**opt, FINANCIALLY_MATERIAL: True}


def request_examples(examples: Mapping[str, Any], **opt: Any) -> dict[str, Any]:
    """Handler `opt` publishing named request-body examples, e.g. `{"approved": {"opportunity_id": ...}}`."""
    return {**opt, REQUEST_EXAMPLES: dict(examples)}


def response_links(links: Mapping[str, tuple[str, Mapping[str, str]]], **opt: Any) -> dict[str, Any]:
    """Handler `opt` adding OpenAPI links to its 2xx responses, e.g. create-then-read:
    `response_links({"getRun": ("getQuoteToCashRun", {"run_id": "$response.body#/id"})})`.
    Contract tests follow them (stateful create-then-read sequences)."""
    return {**opt, RESPONSE_LINKS: {name: (target, dict(params)) for name, (target, params) in links.items()}}


def problem_spec(description: str) -> ResponseSpec:
    """A documented problem+json response (`Problem` schema, no invented example)."""
    return ResponseSpec(
        data_container=Problem, description=description, media_type=PROBLEM_JSON, generate_examples=False
    )


def _handlers(app: Litestar) -> list[HTTPRouteHandler]:
    return [
        handler
        for route in app.routes
        for handler in getattr(route, "route_handlers", ())
        if isinstance(handler, HTTPRouteHandler)
    ]


def _scopes(handler: HTTPRouteHandler) -> list[str]:
    return [
        scope
        for layer in handler.ownership_layers
        for guard in (getattr(layer, "guards", None) or [])
        if isinstance(guard, ScopeGuard)
        for scope in guard.scopes
    ]


def document_handlers(app: Litestar, *, auth: bool) -> None:
    """Give every handler its `security`, problem statuses and material marker before the schema is built.

    Runs on the registered handlers (Routers copy theirs at construction). Health and the schema
    routes are left alone: they are not part of any published API.
    """
    for handler in _handlers(app):
        if handler.include_in_schema is False or any(path.startswith(("/health", "/schema")) for path in handler.paths):
            continue
        scopes = _scopes(handler) if auth else []
        if scopes and not handler.security:
            handler.security = [{"bearer": scopes}]
        statuses = [400, 500, 503]
        if scopes:
            statuses += [401, 403]
        if any("{" in path for path in handler.paths):
            statuses.append(404)
        responses = dict(handler.responses or {})
        own = responses.get(503)
        if own is not None and "dependency-unavailable" not in (own.description or ""):
            # The handler's 503 names its downstream; the data store can be down too.
            responses[503] = dataclasses.replace(
                own, description=f"{own.description}; or dependency-unavailable: the service's data store is down"
            )
        for status in statuses:
            responses.setdefault(status, problem_spec(_DEFAULT_PROBLEMS[status]))
        handler.responses = responses
        if handler.opt.get(FINANCIALLY_MATERIAL):
            handler.operation_class = FinanciallyMaterialOperation


def _operations(document: OpenAPI) -> dict[str, Operation]:
    found: dict[str, Operation] = {}
    for item in (document.paths or {}).values():
        for method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
            operation = getattr(item, method, None)
            if isinstance(operation, Operation) and operation.operation_id:
                found[operation.operation_id] = operation
    return found


def _component(document: OpenAPI, schema: Schema | Reference | None) -> Schema | None:
    if isinstance(schema, Reference):
        name = schema.ref.rsplit("/", 1)[-1]
        found = (document.components.schemas or {}).get(name) if document.components else None
        return found if isinstance(found, Schema) else None
    return schema


def _example_of(document: OpenAPI, schema: Schema | Reference | None, depth: int = 0) -> Any:
    """An example body from the model's own field examples; None when a required field has none."""
    resolved = _component(document, schema)
    if resolved is None or depth > 8:
        return None
    if resolved.examples:
        return resolved.examples[0]
    # Values the model itself declares: a constant, a default or the first allowed value.
    if resolved.const is not None:
        return resolved.const
    if resolved.default is not None:
        return resolved.default
    if resolved.enum:
        return next((v for v in resolved.enum if v is not None), None)
    if resolved.properties:
        body: dict[str, Any] = {}
        required = resolved.required or []
        for name, prop in resolved.properties.items():
            if name not in required:
                # Optional fields appear only with an example of their own, never a bare default.
                own = _component(document, prop)
                if own is not None and own.examples:
                    body[name] = own.examples[0]
                continue
            value = _example_of(document, prop, depth + 1)
            if value is None:
                return None
            body[name] = value
        return body
    if resolved.items is not None:
        item = _example_of(document, resolved.items, depth + 1)
        return None if item is None else [item]
    for branch in resolved.one_of or resolved.any_of or []:
        value = _example_of(document, branch, depth + 1)
        if value is not None:
            return value
    return None


def _add_links(operation: Operation, links: Mapping[str, tuple[str, Mapping[str, str]]]) -> None:
    for status, response in (operation.responses or {}).items():
        if links and str(status).startswith("2") and isinstance(response, OpenAPIResponse):
            response.links = {
                name: Link(operation_id=target, parameters=dict(params)) for name, (target, params) in links.items()
            }


def _branches(document: OpenAPI, schema: Schema) -> Iterator[Schema]:
    """The schema itself, or each arm of its `oneOf`/`anyOf` (how Litestar writes `X | None`)."""
    arms = schema.one_of or schema.any_of
    if not arms:
        yield schema
        return
    for arm in arms:
        resolved = _component(document, arm)
        if resolved is not None:
            yield resolved


def _close(document: OpenAPI, schema: Schema | Reference | None, kind: Any, seen: set[int]) -> None:
    """Walk a body schema beside the msgspec type it was built from; see `closed_commands`."""
    resolved = _component(document, schema)
    if resolved is None:
        return
    if isinstance(kind, msgspec.inspect.Metadata):
        pattern = (kind.extra_json_schema or {}).get("pattern")
        for arm in _branches(document, resolved):
            if pattern and arm.type == "string" and arm.pattern is None:
                arm.pattern = pattern
        _close(document, resolved, kind.type, seen)
    elif isinstance(kind, msgspec.inspect.DecimalType):
        for arm in _branches(document, resolved):
            if arm.type == "string" and arm.pattern is None:
                arm.pattern = DECIMAL_PATTERN
    elif isinstance(kind, msgspec.inspect.UnionType):
        for member in kind.types:
            for arm in _branches(document, resolved):
                _close(document, arm, member, seen)
    elif isinstance(kind, msgspec.inspect.StructType):
        names = {f.encode_name for f in kind.fields}
        if id(resolved) in seen or not resolved.properties or not names >= set(resolved.properties):
            return  # another arm of a union, or already done
        seen.add(id(resolved))
        if kind.forbid_unknown_fields and resolved.additional_properties is None:
            resolved.additional_properties = False
        for item in kind.fields:
            _close(document, resolved.properties.get(item.encode_name), item.type, seen)
    elif isinstance(kind, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.VarTupleType):
        for arm in _branches(document, resolved):
            if arm.items is not None:
                _close(document, arm.items, kind.item_type, seen)


def closed_commands(document: OpenAPI, handler: HTTPRouteHandler, body: RequestBody) -> None:
    """Publish on a handler's request-body schema what its strict decoder enforces (idempotent).

    A command refuses unknown fields (`forbid_unknown_fields=True`), so its schema says
    `additionalProperties: false`; otherwise a generic client or fuzzer sends extra fields the
    contract allows and gets a 400. Field patterns declared for msgspec's own JSON schema (e.g.
    `Money.amount`) are published too. Nested structs, lists and optional arms are followed.
    """
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None or not isinstance(data.annotation, type) or not issubclass(data.annotation, msgspec.Struct):
        return
    kind = msgspec.inspect.type_info(data.annotation)
    for media in body.content.values():
        _close(document, media.schema, kind, set())


def finish_document(app: Litestar) -> OpenAPI:
    """Build the app's OpenAPI document once and add request-body examples (idempotent)."""
    document = app.openapi_schema
    by_id = {handler.operation_id: handler for handler in _handlers(app) if isinstance(handler.operation_id, str)}
    for operation_id, operation in _operations(document).items():
        unavailable = (operation.responses or {}).get("503")
        if isinstance(unavailable, OpenAPIResponse):
            unavailable.headers = {"Retry-After": RETRY_AFTER_HEADER, **(unavailable.headers or {})}
        body = operation.request_body
        handler = by_id.get(operation_id)
        if handler is None:
            continue
        _add_links(operation, handler.opt.get(RESPONSE_LINKS) or {})
        if not isinstance(body, RequestBody):
            continue
        closed_commands(document, handler, body)
        declared: dict[str, Any] = dict(handler.opt.get(REQUEST_EXAMPLES) or {})
        for media in body.content.values():
            if media.examples:
                continue
            if not declared:
                value = _example_of(document, media.schema)
                if value is not None:
                    declared = {"default": value}
            if declared:
                media.examples = {name: Example(value=value) for name, value in declared.items()}
    return document


def allow_header_fix() -> Any:
    """A `before_send` hook listing every method of the route in `Allow` on automatic `OPTIONS` answers."""
    methods: dict[str, str] = {}

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
            return
        if not methods:
            for route in scope["app"].routes:
                if isinstance(route, HTTPRoute):
                    # The scope's `path_template` has no converters: `/x/{k}` for the route `/x/{k:str}`.
                    methods[_CONVERTER.sub(r"{\1}", route.path)] = ", ".join(sorted(route.methods))
        allow = methods.get(str(scope.get("path_template", "")))
        if allow is None:
            return
        headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
        headers.append((b"allow", allow.encode("latin-1")))
        message["headers"] = headers

    return before_send
