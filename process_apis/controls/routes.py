"""`/v1/mappings/{name}` and `/v1/rules/{name}`: the controls as versioned data."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody

from process_apis import audit
from process_apis.controls.mapping import MappingSet, MappingSetError, affected_entities
from process_apis.controls.rule_sets import RuleSet
from process_apis.controls.rule_store import RuleSetDiff, RuleSetVersion, diff_rule_sets
from process_apis.controls.store import ControlStore, MappingSetBody, validate_mapping
from process_apis.entities import EntityScope, entity_not_allowed, entity_scope
from process_apis.errors import ApprovalRequired, ControlNotFound, MappingInvalid
from servicekit import StrictBody, require_scopes
from servicekit.openapi import problem_spec, request_examples

__all__ = ["MAPPING_EXAMPLE", "MappingSetVersion", "RuleSetVersions", "controls_router"]

ControlName = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["default"])]


#: A whole mapping set as a PUT or proposal body (the shipped default, republished).
MAPPING_EXAMPLE: dict[str, Any] = {
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
    opt=request_examples({"add_apac": MAPPING_EXAMPLE}),
    summary="Add a new version of a mapping set and activate it",
    dto=StrictBody[MappingSetBody],
    return_dto=None,
    status_code=201,
    guards=[require_scopes("controls:write")],
    responses={
        403: problem_spec(
            "The token lacks controls:write, or the change affects a legal entity the caller is not "
            "cleared for (entity-not-allowed)"
        ),
        404: problem_spec("No such mapping set (control-not-found)"),
        409: problem_spec("Four eyes are on: propose the change instead (approval-required)"),
        422: problem_spec("The new version does not validate; the active one is unchanged (mapping-invalid)"),
    },
)
async def put_mapping(
    request: Request[Any, Any, Any],
    name: FromPath[ControlName],
    data: JSONBody[MappingSetBody],
    store: NamedDependency[ControlStore],
    entities: NamedDependency[EntityScope],
) -> MappingSetVersion:
    """Validate the body; if valid it becomes version n+1 and active, else nothing changes (422).

    Runs retried after this use the new version; earlier versions stay readable. A caller may change
    only the regions of its own legal entities; a change to another entity's region or to the
    products (which every entity sells) needs a caller cleared for every entity involved (403).
    With four eyes on (`FIG_FOUR_EYES`, the default), 409 `approval-required`: propose the version at
    `POST /v1/mappings/{name}/proposals` instead.
    """
    active = await store.active(name)
    if active is None:
        raise ControlNotFound(f"There is no mapping set {name!r}; mapping sets start as files in the repo.")
    if request.app.state.settings.four_eyes:
        raise ApprovalRequired(
            f"Four eyes: propose the new version at POST /v1/mappings/{name}/proposals; "
            "a second person approves it at POST /v1/proposals/{proposal_id}/approve."
        )
    if entities.allowed is not None:
        try:
            candidate = validate_mapping(name, active[0] + 1, data)
        except MappingSetError as exc:
            raise MappingInvalid(str(exc)) from None
        refused = affected_entities(active[1], candidate) - entities.allowed
        if refused:
            raise entity_not_allowed(refused)
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
    summary="Read the active version of a validation rule set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such rule set (control-not-found)")},
)
async def get_rules(name: FromPath[ControlName], store: NamedDependency[ControlStore]) -> RuleSet:
    """The controls a gate applies now: the active version (seeded from `process_apis/controls/rules/`)."""
    current = await store.rules.current(name)
    if current is None:
        raise ControlNotFound(f"There is no rule set {name!r}.")
    return current


class RuleSetVersions(msgspec.Struct, kw_only=True, frozen=True):
    """Every version of a rule set, oldest first, with author, approver and time."""

    items: list[RuleSetVersion]


@get(
    "/rules/{name:str}/versions",
    operation_id="listRuleSetVersions",
    summary="List the versions of a validation rule set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such rule set (control-not-found)")},
)
async def list_rule_versions(name: FromPath[ControlName], store: NamedDependency[ControlStore]) -> RuleSetVersions:
    """Each version with who proposed (author) and approved it and when; `active` marks the one in use."""
    items = await store.rules.versions(name)
    if not items:
        raise ControlNotFound(f"There is no rule set {name!r}.")
    return RuleSetVersions(items=items)


async def _rule_version(store: ControlStore, name: str, number: int) -> RuleSetVersion:
    stored = await store.rules.version(name, number)
    if stored is None:
        raise ControlNotFound(f"Rule set {name!r} has no version {number}.")
    return store.rules.view(name, number, stored, await store.rules.active_version(name))


@get(
    "/rules/{name:str}/versions/{number:int}",
    operation_id="getRuleSetVersion",
    summary="Read one version of a validation rule set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such rule set version (control-not-found)")},
)
async def get_rule_version(
    name: FromPath[ControlName], number: FromPath[int], store: NamedDependency[ControlStore]
) -> RuleSetVersion:
    """Any version stays readable: runs name the version they were validated under."""
    return await _rule_version(store, name, number)


@get(
    "/rules/{name:str}/diff",
    operation_id="diffRuleSetVersions",
    summary="Compare two versions of a validation rule set",
    guards=[require_scopes("controls:read")],
    responses={404: problem_spec("No such rule set version (control-not-found)")},
)
async def diff_rule_versions(
    name: FromPath[ControlName],
    store: NamedDependency[ControlStore],
    from_version: FromQuery[Annotated[int, msgspec.Meta(ge=1)]],
    to_version: FromQuery[Annotated[int, msgspec.Meta(ge=1)]],
) -> RuleSetDiff:
    """The rules added, removed and changed from `from_version` to `to_version` (matched by rule id)."""
    old = await _rule_version(store, name, from_version)
    new = await _rule_version(store, name, to_version)
    return diff_rule_sets(name, (old.number, old.rule_set), (new.number, new.rule_set))


controls_router = Router(
    path="/v1",
    route_handlers=[
        get_mapping,
        get_mapping_version,
        put_mapping,
        get_rules,
        list_rule_versions,
        get_rule_version,
        diff_rule_versions,
    ],
    dependencies={"store": Provide(_store, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["controls"],
)
