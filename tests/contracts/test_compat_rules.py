"""One test per rule of the breaking-change checker (contracts.compat), on a small document."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from contracts.compat import Change, diff_documents

TODAY = date(2026, 11, 27)


def base() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Order": {
                    "type": "object",
                    "required": ["id", "status", "total"],
                    "properties": {
                        "id": {"type": "string"},
                        "status": {"type": "string", "enum": ["open", "booked"]},
                        "total": {"type": "number"},
                        "note": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                        "parent": {"$ref": "#/components/schemas/Order"},
                    },
                },
                "NewOrder": {
                    "type": "object",
                    "required": ["customer"],
                    "properties": {
                        "customer": {"type": "string", "maxLength": 40},
                        "quantity": {"type": "integer", "minimum": 1},
                        "kind": {"type": "string", "enum": ["new", "renewal"]},
                        "memo": {"type": ["string", "null"]},
                    },
                },
            },
        },
        "paths": {
            "/v1/orders": {
                "post": {
                    "operationId": "createOrder",
                    "security": [{"bearer": ["orders:write"]}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewOrder"}}},
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
                        },
                        "400": {"description": "bad"},
                    },
                }
            },
            "/v1/orders/{order_id}": {
                "get": {
                    "operationId": "getOrder",
                    "security": [{"bearer": ["orders:read"]}],
                    "parameters": [
                        {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "expand", "in": "query", "required": False, "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Order"}}},
                        }
                    },
                }
            },
        },
    }


def changed(mutate: Callable[[dict[str, Any]], None]) -> list[Change]:
    new = copy.deepcopy(base())
    mutate(new)
    return diff_documents(base(), new, today=TODAY)


def breaking(changes: list[Change], rule: str) -> Change:
    found = [c for c in changes if c.rule == rule]
    assert found, f"no {rule} in {[(c.rule, c.location) for c in changes]}"
    assert all(c.breaking for c in found), found
    return found[0]


def schemas(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["components"]["schemas"]
    return result


def post(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"]["/v1/orders"]["post"]
    return result


def get(doc: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = doc["paths"]["/v1/orders/{order_id}"]["get"]
    return result


def test_identical_documents_have_no_changes() -> None:
    assert diff_documents(base(), base(), today=TODAY) == []


def test_renamed_path_parameter_is_the_same_operation_and_not_a_change() -> None:
    def rename(doc: dict[str, Any]) -> None:
        get(doc)["parameters"][0]["name"] = "id"
        doc["paths"]["/v1/orders/{id}"] = doc["paths"].pop("/v1/orders/{order_id}")

    assert changed(rename) == []


def test_operation_removed_is_breaking() -> None:
    change = breaking(changed(lambda d: d["paths"].pop("/v1/orders/{order_id}")), "operation-removed")
    assert change.location == "GET /v1/orders/{order_id}"


def test_operation_removed_after_deprecation_and_passed_sunset_is_allowed() -> None:
    old = base()
    get(old).update({"deprecated": True, "x-sunset": "2026-06-30"})
    new = copy.deepcopy(old)
    new["paths"].pop("/v1/orders/{order_id}")
    changes = diff_documents(old, new, today=TODAY)
    assert [(c.rule, c.breaking) for c in changes] == [("operation-removed-after-sunset", False)]
    # Before the sunset the same removal is still a break.
    early = diff_documents(old, new, today=date(2026, 6, 1))
    assert breaking(early, "operation-removed").message.endswith("before its sunset")


def test_operation_removed_after_a_sunset_date_but_never_deprecated_is_breaking() -> None:
    """A sunset date alone announces nothing to clients: only a deprecated operation may go after it."""
    old = base()
    get(old)["x-sunset"] = "2026-06-30"
    new = copy.deepcopy(old)
    new["paths"].pop("/v1/orders/{order_id}")
    change = breaking(diff_documents(old, new, today=TODAY), "operation-removed")
    assert change.message.endswith("without deprecation")


def test_security_added_scope_added_and_scheme_changed_are_breaking() -> None:
    def open_then_secure(doc: dict[str, Any]) -> None:
        post(doc)["security"] = [{"bearer": ["orders:write", "orders:approve"]}]

    assert "orders:approve" in breaking(changed(open_then_secure), "security-scope-added").message

    old = base()
    post(old).pop("security")
    assert breaking(diff_documents(old, base(), today=TODAY), "security-added")

    def scheme(doc: dict[str, Any]) -> None:
        post(doc)["security"] = [{"mtls": []}]

    assert breaking(changed(scheme), "security-scheme-changed")


def test_scope_removed_is_not_breaking() -> None:
    changes = changed(lambda d: post(d).update(security=[{"bearer": []}]))
    assert [c for c in changes if c.breaking] == []


def test_new_required_parameter_and_parameter_becoming_required_are_breaking() -> None:
    def add(doc: dict[str, Any]) -> None:
        get(doc)["parameters"].append(
            {"name": "tenant", "in": "header", "required": True, "schema": {"type": "string"}}
        )

    assert breaking(changed(add), "request-parameter-added-required").location.endswith("header:tenant")
    assert breaking(
        changed(lambda d: get(d)["parameters"][1].update(required=True)), "request-parameter-became-required"
    )


def test_new_optional_parameter_is_not_breaking() -> None:
    def add(doc: dict[str, Any]) -> None:
        get(doc)["parameters"].append({"name": "fields", "in": "query", "schema": {"type": "string"}})

    assert [c.breaking for c in changed(add)] == [False]


def test_new_required_body_property_is_breaking() -> None:
    def add(doc: dict[str, Any]) -> None:
        schemas(doc)["NewOrder"]["properties"]["currency"] = {"type": "string"}
        schemas(doc)["NewOrder"]["required"].append("currency")

    change = breaking(changed(add), "request-property-added-required")
    assert change.location == "POST /v1/orders request application/json.currency"
    assert breaking(
        changed(lambda d: schemas(d)["NewOrder"]["required"].append("quantity")), "request-property-became-required"
    )


def test_request_type_narrowed_but_integer_to_number_is_widening() -> None:
    narrowed = changed(lambda d: schemas(d)["NewOrder"]["properties"]["customer"].update(type="integer"))
    assert breaking(narrowed, "request-type-narrowed").location.endswith(".customer")
    widened = changed(lambda d: schemas(d)["NewOrder"]["properties"]["quantity"].update(type="number"))
    assert [c.breaking for c in widened] == [False]


def test_response_type_widened_is_breaking_and_number_to_integer_is_not() -> None:
    assert breaking(
        changed(lambda d: schemas(d)["Order"]["properties"]["id"].update(type=["string", "integer"])),
        "response-type-widened",
    )
    narrowed = changed(lambda d: schemas(d)["Order"]["properties"]["total"].update(type="integer"))
    assert all(not c.breaking for c in narrowed)


def test_enum_value_removed_in_request_is_breaking() -> None:
    change = breaking(
        changed(lambda d: schemas(d)["NewOrder"]["properties"]["kind"].update(enum=["new"])),
        "request-enum-value-removed",
    )
    assert "renewal" in change.message


def test_enum_value_added_in_response_is_breaking_unless_extensible() -> None:
    def add(doc: dict[str, Any]) -> None:
        schemas(doc)["Order"]["properties"]["status"]["enum"].append("cancelled")

    assert breaking(changed(add), "response-enum-value-added")

    def add_extensible(doc: dict[str, Any]) -> None:
        add(doc)
        schemas(doc)["Order"]["properties"]["status"]["x-extensible-enum"] = True

    assert all(not c.breaking for c in changed(add_extensible))


def test_request_bounds_tightened_is_breaking_and_relaxed_is_not() -> None:
    assert breaking(
        changed(lambda d: schemas(d)["NewOrder"]["properties"]["customer"].update(maxLength=20)),
        "request-bounds-tightened",
    )
    assert breaking(
        changed(lambda d: schemas(d)["NewOrder"]["properties"]["quantity"].update(minimum=5)),
        "request-bounds-tightened",
    )
    assert breaking(
        changed(lambda d: schemas(d)["NewOrder"]["properties"]["customer"].update(pattern="^[A-Z]+$")),
        "request-bounds-tightened",
    )
    relaxed = changed(lambda d: schemas(d)["NewOrder"]["properties"]["customer"].update(maxLength=80))
    assert [(c.rule, c.breaking) for c in relaxed] == [("request-bounds-relaxed", False)]


def test_nullable_spellings_are_folded() -> None:
    # 3.1 type list -> oneOf with a null branch -> 3.0 nullable: the same schema, no change.
    def respell(doc: dict[str, Any]) -> None:
        schemas(doc)["NewOrder"]["properties"]["memo"] = {"oneOf": [{"type": "string"}, {"type": "null"}]}
        schemas(doc)["Order"]["properties"]["note"] = {"type": "string", "nullable": True}

    assert changed(respell) == []


def test_request_became_non_nullable_is_breaking() -> None:
    change = breaking(
        changed(lambda d: schemas(d)["NewOrder"]["properties"].update(memo={"type": "string"})),
        "request-became-non-nullable",
    )
    assert change.location.endswith(".memo")


def test_response_became_nullable_is_breaking() -> None:
    assert breaking(
        changed(lambda d: schemas(d)["Order"]["properties"]["id"].update(type=["string", "null"])),
        "response-became-nullable",
    )


def test_response_property_becoming_optional_or_removed_is_breaking() -> None:
    assert breaking(
        changed(lambda d: schemas(d)["Order"]["required"].remove("total")), "response-required-property-removed"
    )
    removed = changed(lambda d: schemas(d)["Order"]["properties"].pop("status"))
    assert breaking(removed, "response-required-property-removed").location.endswith(".status")


def test_optional_response_property_removed_is_not_breaking() -> None:
    assert all(not c.breaking for c in changed(lambda d: schemas(d)["Order"]["properties"].pop("note")))


def test_success_status_removed_is_breaking_even_201_to_200() -> None:
    def to_200(doc: dict[str, Any]) -> None:
        post(doc)["responses"]["200"] = post(doc)["responses"].pop("201")

    changes = changed(to_200)
    assert breaking(changes, "response-success-status-removed").location == "POST /v1/orders response 201"
    assert [c.breaking for c in changes if c.rule == "response-status-added"] == [False]


def test_error_status_removed_is_not_breaking() -> None:
    assert [c.breaking for c in changed(lambda d: post(d)["responses"].pop("400"))] == [False]


def test_media_type_removed_in_request_and_response_is_breaking() -> None:
    def swap(content: dict[str, Any]) -> None:
        content["application/xml"] = content.pop("application/json")

    assert breaking(changed(lambda d: swap(post(d)["requestBody"]["content"])), "request-media-type-removed")
    assert breaking(changed(lambda d: swap(get(d)["responses"]["200"]["content"])), "response-media-type-removed")


def test_response_header_removed_is_breaking() -> None:
    change = breaking(changed(lambda d: post(d)["responses"]["201"].pop("headers")), "response-header-removed")
    assert change.location == "POST /v1/orders response 201 header Location"


def test_request_body_became_required_is_breaking() -> None:
    old = base()
    post(old)["requestBody"]["required"] = False
    assert breaking(diff_documents(old, base(), today=TODAY), "request-body-became-required")


def test_operation_id_change_is_breaking_for_generated_clients() -> None:
    assert breaking(changed(lambda d: get(d).update(operationId="readOrder")), "operation-id-changed")


def test_recursive_schemas_terminate_and_still_compare() -> None:
    # Order.parent refers to Order: a change inside is found once per place, without looping.
    changes = changed(lambda d: schemas(d)["Order"]["properties"]["status"]["enum"].append("void"))
    locations = {c.location for c in changes}
    assert "GET /v1/orders/{order_id} response 200 application/json.status" in locations


@pytest.mark.parametrize("spelling", ["oneOf", "anyOf"])
def test_ref_inside_nullable_branch_is_resolved(spelling: str) -> None:
    def wrap(doc: dict[str, Any]) -> None:
        get(doc)["responses"]["200"]["content"]["application/json"]["schema"] = {
            spelling: [{"$ref": "#/components/schemas/Order"}, {"type": "null"}]
        }

    changes = changed(wrap)
    assert breaking(changes, "response-became-nullable")
    assert not [c for c in changes if "property" in c.rule]


def _rules(changes: list[Change]) -> list[tuple[str, bool]]:
    return [(c.rule, c.breaking) for c in changes]


def test_scope_changes_name_exactly_the_scopes_added_and_dropped() -> None:
    swapped = changed(lambda d: post(d).update(security=[{"bearer": ["orders:approve"]}]))
    assert _rules(swapped) == [("security-scope-added", True), ("security-scope-removed", False)]
    assert swapped[0].message == "scopes now needed: ['orders:approve']"
    assert swapped[1].message == "scopes dropped: ['orders:write']"
    # Only adding: nothing is reported as dropped.
    added = changed(lambda d: post(d).update(security=[{"bearer": ["orders:write", "orders:approve"]}]))
    assert _rules(added) == [("security-scope-added", True)]


@pytest.mark.parametrize("opened", [[], [{}], [{"bearer": ["orders:write"]}, {}]], ids=["none", "empty", "optional"])
def test_security_removed_is_reported_but_not_breaking(opened: list[dict[str, list[str]]]) -> None:
    changes = changed(lambda d: post(d).update(security=opened))
    assert _rules(changes) == [("security-removed", False)]


def test_security_moved_to_the_document_default_is_no_change() -> None:
    def inherit(doc: dict[str, Any]) -> None:
        doc["security"] = post(doc).pop("security")

    assert [c for c in changed(inherit) if c.rule.startswith("security")] == []


def test_header_names_are_case_insensitive_and_query_names_are_not() -> None:
    def add_header(name: str) -> Callable[[dict[str, Any]], None]:
        return lambda d: get(d)["parameters"].append({"name": name, "in": "header", "schema": {"type": "string"}})

    old = base()
    add_header("X-Tenant")(old)
    new = copy.deepcopy(base())
    add_header("x-tenant")(new)
    assert diff_documents(old, new, today=TODAY) == []
    renamed = changed(lambda d: get(d)["parameters"][1].update(name="Expand"))
    assert sorted(_rules(renamed)) == [("request-parameter-added", False), ("request-parameter-removed", False)]


def test_path_parameters_compare_by_position_other_parameters_by_name() -> None:
    def prepend_cookie(doc: dict[str, Any]) -> None:
        get(doc)["parameters"].insert(0, {"name": "session", "in": "cookie", "schema": {"type": "string"}})

    assert _rules(changed(prepend_cookie)) == [("request-parameter-added", False)]

    def second_path_param(doc: dict[str, Any]) -> None:
        item = doc["paths"].pop("/v1/orders/{order_id}")
        item["get"]["parameters"].insert(
            1, {"name": "line", "in": "path", "required": True, "schema": {"type": "integer"}}
        )
        doc["paths"]["/v1/orders/{order_id}/lines/{line}"] = item

    old = copy.deepcopy(base())
    second_path_param(old)
    new = copy.deepcopy(old)
    new["paths"]["/v1/orders/{order_id}/lines/{line}"]["get"]["parameters"][0]["schema"] = {"type": "integer"}
    [change] = diff_documents(old, new, today=TODAY)
    assert change.location == "GET /v1/orders/{order_id}/lines/{line} parameter path:order_id"
    assert change.breaking is True  # string -> integer narrows what the request may send


def test_a_removed_parameter_is_reported_where_it_was() -> None:
    [change] = changed(lambda d: get(d)["parameters"].pop(1))
    assert (change.rule, change.location, change.breaking) == (
        "request-parameter-removed",
        "GET /v1/orders/{order_id} parameter query:expand",
        False,
    )


@pytest.mark.parametrize("renamed", ["aaaGetOrder", "zzzGetOrder"])
def test_an_operation_id_change_is_reported_whichever_way_it_sorts(renamed: str) -> None:
    changes = changed(lambda d: get(d).update(operationId=renamed))
    assert [c.rule for c in changes] == ["operation-id-changed"]


def test_a_sunset_that_is_not_a_date_never_allows_a_removal() -> None:
    old = base()
    get(old).update({"deprecated": True, "x-sunset": "when v3 ships"})
    new = copy.deepcopy(old)
    new["paths"].pop("/v1/orders/{order_id}")
    assert breaking(diff_documents(old, new, today=TODAY), "operation-removed")


def test_a_new_request_media_type_is_not_breaking() -> None:
    def add_form(doc: dict[str, Any]) -> None:
        content = post(doc)["requestBody"]["content"]
        content["application/x-www-form-urlencoded"] = content["application/json"]

    assert _rules(changed(add_form)) == [("request-media-type-added", False)]
