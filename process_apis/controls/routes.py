"""`/v1/mappings/{name}` and `/v1/rules/{name}`: the controls as versioned data."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody

from process_apis import audit
from process_apis.controls.mapping import MappingSet, MappingSetError
from process_apis.controls.rule_sets import RuleSet, load_rule_set
from process_apis.controls.store import ControlStore, MappingSetBody
from process_apis.errors import ControlNotFound, MappingInvalid
from servicekit import StrictBody, require_scopes
from servicekit.openapi import problem_spec, request_examples

__all__ = ["MappingSetVersion", "controls_router"]

ControlName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["default"])]


class MappingSetVersion(msgspec.Struct, kw_only=True, frozen=True):
    """One version of a mapping set; `active` says whether workflows use it now."""

    name: str
    number: int
    active: bool
    mapping: MappingSet


def _store(state: State) -> ControlStore:
    store: ControlStore = state.controls
    return store


async def _view(store: ControlStore, name: str, number: int) -> MappingSetVersion:
    mapping = await store.version(name, number)
    if mapping is None:
        raise ControlNotFound(f"Mapping set {name!r} has no version {number}.")
    return MappingSetVersion(
        name=name, number=number, active=number == await store.active_version(name), mapping=mapping
    )


@get(
    "/mappings/{name:str}",
    operation_id="getMappingSet",
    summary="Read the active version of a mapping set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such mapping set (control-not-found)")},
)
async def get_mapping(name: FromPath[ControlName], store: NamedDependency[ControlStore]) -> MappingSetVersion:
    """The version workflows use now (regions to entities and subsidiaries, products to items)."""
    number = await store.active_version(name)
    if number is None:
        raise ControlNotFound(f"There is no mapping set {name!r}.")
    return await _view(store, name, number)


@get(
    "/mappings/{name:str}/versions/{number:int}",
    operation_id="getMappingSetVersion",
    summary="Read one version of a mapping set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such mapping set version (control-not-found)")},
)
async def get_mapping_version(
    name: FromPath[ControlName], number: FromPath[int], store: NamedDependency[ControlStore]
) -> MappingSetVersion:
    """Any version ever active stays readable: runs name the version they used."""
    return await _view(store, name, number)


@put(
    "/mappings/{name:str}",
    operation_id="putMappingSet",
    opt=request_examples(
        {
            "add_apac": {
                "description": "Republishes the default mappings as a new version",
                "regions": {
                    "NA": {"legal_entity": "US01", "subsidiary_id": "1", "currencies": ["USD"]},
                    "DACH": {"legal_entity": "DE01", "subsidiary_id": "2", "currencies": ["EUR"]},
                    "UKI": {"legal_entity": "GB01", "subsidiary_id": "3", "currencies": ["GBP"]},
                },
                "products": {
                    "FIG-PLAT": {"item_id": "101", "revenue_category": "subscription"},
                    "FIG-SUPP": {"item_id": "102", "revenue_category": "support"},
                    "FIG-SERV": {"item_id": "103", "revenue_category": "services"},
                },
            }
        }
    ),
    summary="Add a new version of a mapping set and activate it",
    dto=StrictBody[MappingSetBody],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("controls:write")],
    responses={
        404: problem_spec("No such mapping set (control-not-found)"),
        422: problem_spec("The new version does not validate; the active one is unchanged (mapping-invalid)"),
    },
)
async def put_mapping(
    name: FromPath[ControlName],
    data: JSONBody[MappingSetBody],
    request: Request[Any, Any, Any],
    store: NamedDependency[ControlStore],
) -> MappingSetVersion:
    """Validate the body; if valid it becomes version n+1 and active, else nothing changes (422).

    Runs retried after this use the new version; earlier versions stay readable.
    """
    if await store.active_version(name) is None:
        raise ControlNotFound(f"There is no mapping set {name!r}; mapping sets start as files in the repo.")
    try:
        number, _ = await store.put(name, data)
    except MappingSetError as exc:
        raise MappingInvalid(str(exc)) from None
    await audit.record(
        request, "mapping.changed", resource=f"mapping:{name}", legal_entity=None, detail={"version": str(number)}
    )
    return await _view(store, name, number)


@get(
    "/rules/{name:str}",
    operation_id="getRuleSet",
    summary="Read a validation rule set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such rule set (control-not-found)")},
)
async def get_rules(name: FromPath[ControlName]) -> RuleSet:
    """The controls a gate applies, as shipped in the repo (`process_apis/controls/rules/`)."""
    try:
        return load_rule_set(name)
    except ValueError as exc:
        raise ControlNotFound(str(exc)) from None


controls_router = Router(
    path="/v1",
    route_handlers=[get_mapping, get_mapping_version, put_mapping, get_rules],
    dependencies={"store": Provide(_store, sync_to_thread=False)},
    tags=["controls"],
)
