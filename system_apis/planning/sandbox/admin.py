"""Test and demo controls under `/__admin/` (never under the vendor paths).

- `POST /__admin/reset`: back to the seed (cells, files, tasks, dumps) and no armed faults.
- `GET /__admin/cells?module=committed_bookings|actuals&entity=&period=&version=`: the cube's rows as JSON
  (`version` filters actuals cells by version name).
- `POST /__admin/versions/{version_id}` `{"published": true|false}`: lock a version (no edit window)
  or reopen it over the whole timescale.
- `GET|POST|DELETE /__admin/faults`: list, arm (a `FaultRule`) or clear fault injections.
- `POST /__admin/tokens/expire`: expire every issued token (a client must refresh or log in again).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath, FromQuery

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.faults import FaultBook, FaultRule
from system_apis.planning.sandbox.routes_versions import version_json
from system_apis.planning.sandbox.wire import store_of

__all__ = ["admin_router"]

AnyRequest = Request[Any, Any, Any]


def _faults(request: AnyRequest) -> FaultBook:
    book: FaultBook = request.app.state.faults
    return book


@post("/reset", operation_id="admin_reset", status_code=200, sync_to_thread=False)
def reset(request: AnyRequest) -> dict[str, str]:
    store_of(request).reset()
    _faults(request).clear()
    return {"status": "reset"}


@get("/cells", operation_id="admin_cells", sync_to_thread=False)
def cells(
    request: AnyRequest,
    module: FromQuery[Literal["committed_bookings", "actuals"]] = "committed_bookings",
    entity: FromQuery[str | None] = None,
    period: FromQuery[str | None] = None,
    version: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Cube rows, amounts as decimal strings, sorted by their coordinates."""
    store = store_of(request)
    store.advance()
    cube = store.state.cube
    found = (
        cube.booking_rows(entity=entity, period=period)
        if module == "committed_bookings"
        else cube.actual_rows(entity=entity, period=period, version=version)
    )
    return {"module": module, "cells": [msgspec.to_builtins(c) for c in found]}


@get("/faults", operation_id="admin_list_faults", sync_to_thread=False)
def list_faults(request: AnyRequest) -> dict[str, Any]:
    return {"faults": [msgspec.to_builtins(r) for r in _faults(request).rules]}


@post("/faults", operation_id="admin_add_fault", status_code=201)
async def add_fault(request: AnyRequest) -> dict[str, Any]:
    """Arm a fault: `{"path": "/2/0/*/imports/*/tasks", "method": "POST", "kind": "throttle", "times": 2}`."""
    try:
        rule = msgspec.json.decode(await request.body(), type=FaultRule, strict=True)
    except msgspec.DecodeError as exc:
        raise AnaplanError(400, f"Invalid fault rule: {exc}") from None
    _faults(request).add(rule)
    return {"fault": msgspec.to_builtins(rule)}


@delete("/faults", operation_id="admin_clear_faults", status_code=204, sync_to_thread=False)
def clear_faults(request: AnyRequest) -> None:
    _faults(request).clear()


class Publication(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    published: bool


@post("/versions/{version_id:str}", operation_id="admin_publish_version", status_code=200)
async def publish_version(request: AnyRequest, version_id: FromPath[str]) -> dict[str, Any]:
    try:
        body = msgspec.json.decode(await request.body(), type=Publication, strict=True)
    except msgspec.DecodeError as exc:
        raise AnaplanError(400, f"Invalid body: {exc}") from None
    return {"version": version_json(store_of(request).set_published(version_id, body.published))}


@post("/tokens/expire", operation_id="admin_expire_tokens", status_code=200, sync_to_thread=False)
def expire_tokens(request: AnyRequest) -> dict[str, int]:
    return {"expired": store_of(request).expire_token()}


admin_router = Router(
    path="/__admin",
    route_handlers=[reset, cells, list_faults, add_fault, clear_faults, publish_version, expire_tokens],
    include_in_schema=False,
)
