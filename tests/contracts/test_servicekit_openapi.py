"""servicekit.openapi through create_service_app: what every service's document and OPTIONS answers say."""

from __future__ import annotations

import json
from typing import Annotated, Any

import msgspec
from litestar import Litestar, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.serialization import encode_json
from litestar.testing import AsyncTestClient

from servicekit import ServiceSettings, StrictBody, create_service_app, require_scopes
from servicekit.openapi import financially_material, problem_spec, request_examples


class Payment(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    invoice: Annotated[str, msgspec.Meta(examples=["INV-1"])]
    kind: Annotated[str, msgspec.Meta(pattern="^(card|wire)$")] = "wire"
    memo: str | None = None


class Note(msgspec.Struct, kw_only=True, frozen=True):
    text: str


class Leg(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    amount: Annotated[str, msgspec.Meta(extra_json_schema={"pattern": "^[0-9]+$"})]


class Split(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    legs: Annotated[list[Leg], msgspec.Meta(min_length=1)]
    fee: Leg | None = None
    note: Note | None = None


@post(
    "/v1/payments",
    operation_id="postPayment",
    dto=StrictBody[Payment],
    return_dto=None,
    guards=[require_scopes("pay:write")],
    opt=financially_material(),
    responses={409: problem_spec("Already paid")},
    sync_to_thread=False,
)
def pay(data: JSONBody[Payment]) -> dict[str, str]:
    return {"invoice": data.invoice}


@get(
    "/v1/payments/{payment_id:str}",
    operation_id="getPayment",
    guards=[require_scopes("pay:read")],
    sync_to_thread=False,
)
def read(payment_id: FromPath[str]) -> dict[str, str]:
    return {"id": payment_id}


@put(
    "/v1/payments/{payment_id:str}",
    operation_id="putNote",
    dto=StrictBody[Note],
    return_dto=None,
    opt=request_examples({"short": {"text": "paid by wire"}}),
    sync_to_thread=False,
)
def note(payment_id: FromPath[str], data: JSONBody[Note]) -> dict[str, str]:
    return {"id": payment_id, "text": data.text}


@post("/v1/splits", operation_id="postSplit", dto=StrictBody[Split], return_dto=None, sync_to_thread=False)
def split(data: JSONBody[Split]) -> dict[str, int]:
    return {"legs": len(data.legs)}


def make_app() -> Litestar:
    settings = ServiceSettings(auth_required=False)
    return create_service_app(name="t", settings=settings, route_handlers=[pay, read, note, split], use_redis=False)


def document(app: Litestar) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(encode_json(app.openapi_schema.to_schema()))
    return result


def test_problem_statuses_security_and_marker_are_documented() -> None:
    doc = document(make_app())
    post_op = doc["paths"]["/v1/payments"]["post"]
    get_op = doc["paths"]["/v1/payments/{payment_id}"]["get"]

    assert post_op["x-financially-material"] is True
    assert "x-financially-material" not in get_op
    assert post_op["security"] == [{"bearer": ["pay:write"]}]
    assert sorted(post_op["responses"]) == ["201", "400", "401", "403", "409", "500", "503"]
    assert post_op["responses"]["409"]["description"] == "Already paid"
    assert sorted(get_op["responses"]) == ["200", "400", "401", "403", "404", "500", "503"]
    for response in (post_op["responses"]["400"], get_op["responses"]["404"], get_op["responses"]["503"]):
        assert response["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    # A dependency down is a 503 that says when to come back.
    retry_after = get_op["responses"]["503"]["headers"]["Retry-After"]
    assert retry_after["required"] is True
    assert retry_after["schema"] == {"type": "integer", "minimum": 1}
    # An unguarded operation documents no 401/403.
    assert "401" not in doc["paths"]["/v1/payments/{payment_id}"]["put"]["responses"]


def test_request_examples_come_from_the_model_or_the_handler_never_invented() -> None:
    doc = document(make_app())
    post_body = doc["paths"]["/v1/payments"]["post"]["requestBody"]["content"]["application/json"]
    put_body = doc["paths"]["/v1/payments/{payment_id}"]["put"]["requestBody"]["content"]["application/json"]

    # `invoice` has a declared example; optional `kind`/`memo` have none of their own and stay out.
    assert post_body["examples"] == {"default": {"value": {"invoice": "INV-1"}}}
    assert put_body["examples"] == {"short": {"value": {"text": "paid by wire"}}}


async def test_command_schemas_refuse_unknown_properties_as_the_decoder_does() -> None:
    doc = document(make_app())
    schemas = doc["components"]["schemas"]
    # Structs with forbid_unknown_fields, nested in lists and optional arms too, are closed ...
    for name in ("Payment", "Split", "Leg"):
        assert schemas[name]["additionalProperties"] is False, name
    # ... with the patterns declared for msgspec's own schema; a struct that takes extras stays open.
    assert schemas["Leg"]["properties"]["amount"]["pattern"] == "^[0-9]+$"
    assert "additionalProperties" not in schemas["Note"]
    async with AsyncTestClient(make_app()) as client:
        extra = await client.post("/v1/splits", json={"legs": [{"amount": "1", "memo": "x"}]})
        fine = await client.post("/v1/splits", json={"legs": [{"amount": "1"}], "note": {"text": "t", "more": 1}})
    assert extra.status_code == 400
    assert fine.status_code == 201


async def test_options_lists_every_method_of_the_path_in_allow() -> None:
    async with AsyncTestClient(make_app()) as client:
        answer = await client.options("/v1/payments/p-1")
        refused = await client.delete("/v1/payments/p-1")

    assert answer.status_code == 204
    assert answer.headers["allow"] == "GET, OPTIONS, PUT"
    assert refused.status_code == 405
    assert refused.headers["content-type"].startswith("application/problem+json")
