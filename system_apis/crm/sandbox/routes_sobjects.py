"""sObject resources: versions, describe, read/update by id, create, read and upsert by external id."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from litestar import Request, Response, Router, get, patch, post
from litestar.params import FromPath

from system_apis.crm.sandbox.errors import ApiError, encode
from system_apis.crm.sandbox.gate import vendor_gate
from system_apis.crm.sandbox.schema import OBJECTS, FieldDef, field_def
from system_apis.crm.sandbox.state import SandboxState
from system_apis.crm.sandbox.store import OrgStore

__all__ = [
    "SUPPORTED_VERSIONS",
    "UPDATABLE",
    "WRITABLE",
    "read_record",
    "request_body",
    "sobjects_router",
    "versions",
    "writable_sobject",
]

SUPPORTED_VERSIONS = ("60.0", "61.0", "62.0", "63.0", "64.0", "65.0", "66.0", "67.0")
#: Objects whose records may be created and updated over the REST API.
WRITABLE = ("Account", "Opportunity")
#: Objects whose records may be updated (product lines: their price and quantity, which roll up into
#: the opportunity's Amount; creating a line needs a price book, which the sandbox does not emulate).
UPDATABLE = (*WRITABLE, "OpportunityLineItem")
Record = dict[str, Any]
Req = Request[Any, Any, Any]


def _json(body: Any, status: int = 200) -> Response[bytes]:
    return Response(content=encode(body), status_code=status, media_type="application/json")


def _state(request: Req) -> SandboxState:
    state: SandboxState = request.app.state.sf
    return state


def _sobject(name: str, *, writable: bool = False, updatable: bool = False) -> str:
    if name not in OBJECTS or (writable and name not in WRITABLE) or (updatable and name not in UPDATABLE):
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return name


def writable_sobject(name: str) -> str:
    """`name` when records of it may be written over the REST API; ApiError 404 otherwise."""
    return _sobject(name, writable=True)


async def request_body(request: Req) -> Record:
    """The request's JSON object body (numbers as Decimal); ApiError JSON_PARSER_ERROR otherwise."""
    raw = await request.body()
    try:
        # Numbers decode as Decimal: Amount 14400.00 must never pass through a float.
        body = json.loads(raw or b"null", parse_float=Decimal)
    except ValueError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from a non-object body")
    return body


def _url(version: str, sobject: str, record_id: str) -> str:
    return f"/services/data/{version}/sobjects/{sobject}/{record_id}"


def _rendered(record: Record, sobject: str, version: str, fields: list[FieldDef] | None = None) -> Record:
    out: Record = {"attributes": {"type": sobject, "url": _url(version, sobject, record["Id"])}}
    for definition in fields if fields is not None else OBJECTS[sobject].values():
        out[definition.name] = record.get(definition.name)
    return out


@get("/services/data", operation_id="sf_versions", sync_to_thread=False)
def versions() -> Response[bytes]:
    """The API versions this org offers (`GET /services/data/`); no session needed."""
    return _json([{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in SUPPORTED_VERSIONS])


@get("/{version:str}/sobjects/{sobject:str}/describe", operation_id="sf_describe", sync_to_thread=False)
def describe(request: Req, version: FromPath[str], sobject: FromPath[str]) -> Response[bytes]:
    name = _sobject(sobject)
    fields = [
        {
            "name": f.name,
            "type": f.type,
            "label": f.label,
            "updateable": f.updateable,
            "createable": f.createable,
            "nillable": f.nillable,
            "externalId": f.external_id,
            "picklistValues": [{"value": v, "label": v, "active": True, "defaultValue": False} for v in f.picklist],
            "referenceTo": list(f.reference_to),
            "inlineHelpText": f.help,
        }
        for f in OBJECTS[name].values()
    ]
    base = f"/services/data/{version}/sobjects/{name}"
    return _json(
        {
            "name": name,
            "label": name,
            "custom": False,
            "createable": name in WRITABLE,
            "updateable": name in UPDATABLE,
            "queryable": True,
            "fields": fields,
            "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
        }
    )


@get("/{version:str}/sobjects/{sobject:str}/{record_id:str}", operation_id="sf_get_record", sync_to_thread=False)
def get_record(
    request: Req, version: FromPath[str], sobject: FromPath[str], record_id: FromPath[str]
) -> Response[bytes]:
    return _json(read_record(_state(request).store, sobject, record_id, version, request.query_params.get("fields")))


def read_record(store: OrgStore, sobject: str, record_id: str, version: str, wanted: str | None) -> Record:
    """A record as `GET .../sobjects/{sobject}/{id}[?fields=...]` answers it; ApiError as Salesforce fails."""
    name = _sobject(sobject)
    record = store.get(name, record_id)
    if record is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    fields: list[FieldDef] | None = None
    if wanted:
        fields = []
        for raw in wanted.split(","):
            found = field_def(name, raw.strip())
            if found is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{raw.strip()}' on sobject of type {name}")
            fields.append(found)
    return _rendered(record, name, version, fields)


@patch("/{version:str}/sobjects/{sobject:str}/{record_id:str}", operation_id="sf_update_record", status_code=204)
async def update_record(
    request: Req, version: FromPath[str], sobject: FromPath[str], record_id: FromPath[str]
) -> Response[None]:
    name = _sobject(sobject, updatable=True)
    _state(request).store.update(name, record_id, await request_body(request))
    return Response(content=None, status_code=204)


@post("/{version:str}/sobjects/{sobject:str}", operation_id="sf_create_record", status_code=201)
async def create_record(request: Req, version: FromPath[str], sobject: FromPath[str]) -> Response[bytes]:
    name = _sobject(sobject, writable=True)
    record = _state(request).store.insert(name, await request_body(request))
    return _json({"id": record["Id"], "success": True, "errors": []}, 201)


@get(
    "/{version:str}/sobjects/{sobject:str}/{field:str}/{value:str}",
    operation_id="sf_get_record_by_external_id",
    sync_to_thread=False,
)
def get_by_external_id(
    request: Req, version: FromPath[str], sobject: FromPath[str], field: FromPath[str], value: FromPath[str]
) -> Response[bytes]:
    """The record whose external id field `field` holds `value`; 300 with their URLs when several do."""
    name = _sobject(sobject)
    definition = field_def(name, field)
    if definition is None or not (definition.external_id or definition.name == "Id"):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}")
    store = _state(request).store
    matches = [r for r in store.find(name, definition.name, value) if not r.get("IsDeleted")]
    if len(matches) > 1:
        return _json([_url(version, name, m["Id"]) for m in matches], 300)
    if not matches:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return _json(read_record(store, name, matches[0]["Id"], version, request.query_params.get("fields")))


def _upsert(store: OrgStore, sobject: str, *, field: str, value: str, body: Record, version: str) -> Response[bytes]:
    definition = field_def(sobject, field)
    if definition is None or not definition.external_id:
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field}")
    given = body.pop(definition.name, value)
    if given != value:
        raise ApiError(
            400, "INVALID_FIELD", f"The external ID field {definition.name} in the body does not match the URL"
        )
    matches = store.find(sobject, definition.name, value)
    if len(matches) > 1:
        return _json([_url(version, sobject, m["Id"]) for m in matches], 300)
    if matches:
        record = store.update(sobject, matches[0]["Id"], body)
        return _json({"id": record["Id"], "success": True, "errors": [], "created": False}, 200)
    record = store.insert(sobject, {**body, definition.name: value})
    return _json({"id": record["Id"], "success": True, "errors": [], "created": True}, 201)


@patch(
    "/{version:str}/sobjects/{sobject:str}/{field:str}/{value:str}", operation_id="sf_upsert_record", status_code=200
)
async def upsert_record(
    request: Req,
    version: FromPath[str],
    sobject: FromPath[str],
    field: FromPath[str],
    value: FromPath[str],
) -> Response[bytes]:
    """Upsert by external id: 201 created, 200 updated (`created:false`), 300 when several match."""
    name = _sobject(sobject, writable=True)
    return _upsert(
        _state(request).store, name, field=field, value=value, body=await request_body(request), version=version
    )


sobjects_router = Router(
    path="/services/data",
    route_handlers=[describe, get_record, get_by_external_id, update_record, create_record, upsert_record],
    before_request=vendor_gate,
)
