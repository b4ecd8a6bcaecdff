"""`/__admin/`: drive the emulated org from tests and demos (never part of the vendor surface).

Reset to the seed, close-win or approve an opportunity as a sales user would, arm faults,
expire sessions, set the API usage. Errors here are problem+json (our API, not the vendor's).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, delete, get, post
from litestar.params import FromPath, JSONBody

from servicekit.body import StrictBody
from servicekit.errors import NotFound
from servicekit.problems import exception_handlers
from system_apis.crm.sandbox.faults import FaultSpec
from system_apis.crm.sandbox.sessions import ApiUsage
from system_apis.crm.sandbox.state import SandboxState
from system_apis.crm.sandbox.store import Record

__all__ = ["ApprovalCommand", "BulkCloseWonCommand", "UsageCommand", "admin_router"]


class ApprovalCommand(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    status: Literal["Not Submitted", "Pending", "Approved", "Rejected"]


class BulkCloseWonCommand(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    ids: Annotated[list[str], msgspec.Meta(min_length=1, max_length=50_000)]


class UsageCommand(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    used: int | None = None
    limit: int | None = None


def _state(request: Request[Any, Any, Any]) -> SandboxState:
    state: SandboxState = request.app.state.sf
    return state


def _opportunity(state: SandboxState, opportunity_id: str) -> Record:
    record = state.store.get("Opportunity", opportunity_id)
    if record is None:
        raise NotFound(f"opportunity {opportunity_id} does not exist in the sandbox")
    return record


def _summary(record: Record) -> dict[str, Any]:
    keys = ("Id", "StageName", "IsClosed", "IsWon", "Approval_Status__c", "SystemModstamp")
    return {k: record[k] for k in keys}


@get("/health", operation_id="sf_admin_health", sync_to_thread=False)
def health(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = _state(request)
    return {"status": "ok", "records": state.store.counts(), "api_usage": state.usage.header()}


@post("/reset", operation_id="sf_admin_reset", status_code=200, sync_to_thread=False)
def reset(request: Request[Any, Any, Any]) -> dict[str, Any]:
    state = _state(request)
    state.reset()
    return {"status": "reset", "records": state.store.counts()}


@post("/opportunities/{opportunity_id:str}/close-won", operation_id="sf_admin_close_won", status_code=200,
      sync_to_thread=False)  # fmt: skip
def close_won(request: Request[Any, Any, Any], opportunity_id: FromPath[str]) -> dict[str, Any]:
    """StageName Closed Won and Approval_Status__c Approved, with a fresh SystemModstamp."""
    state = _state(request)
    record = _opportunity(state, opportunity_id)
    updated = state.store.update(
        "Opportunity", record["Id"], {"StageName": "Closed Won", "Approval_Status__c": "Approved"}
    )
    return _summary(updated)


@post("/opportunities/close-won", operation_id="sf_admin_close_won_many", status_code=200,
      dto=StrictBody[BulkCloseWonCommand], return_dto=None, sync_to_thread=False)  # fmt: skip
def close_won_many(request: Request[Any, Any, Any], data: JSONBody[BulkCloseWonCommand]) -> dict[str, Any]:
    """Close-win many opportunities at once (404 before any change if one is unknown); one journal line."""
    state = _state(request)
    records = [_opportunity(state, i) for i in data.ids]
    for record in records:
        state.store.update(
            "Opportunity", record["Id"], {"StageName": "Closed Won", "Approval_Status__c": "Approved"}, persist=False
        )
    state.store.persist("Opportunity", records)
    return {"updated": len(records)}


@post("/opportunities/{opportunity_id:str}/approval", operation_id="sf_admin_set_approval", status_code=200,
      dto=StrictBody[ApprovalCommand], return_dto=None, sync_to_thread=False)  # fmt: skip
def set_approval(
    request: Request[Any, Any, Any], opportunity_id: FromPath[str], data: JSONBody[ApprovalCommand]
) -> dict[str, Any]:
    state = _state(request)
    record = _opportunity(state, opportunity_id)
    return _summary(state.store.update("Opportunity", record["Id"], {"Approval_Status__c": data.status}))


@post("/faults", operation_id="sf_admin_add_fault", status_code=201, dto=StrictBody[FaultSpec], return_dto=None,
      sync_to_thread=False)  # fmt: skip
def add_fault(request: Request[Any, Any, Any], data: JSONBody[FaultSpec]) -> dict[str, Any]:
    """Arm a fault for the next `count` calls matching `path` (and `method`)."""
    state = _state(request)
    state.faults.add(data)
    return {"faults": state.faults.pending()}


@get("/faults", operation_id="sf_admin_list_faults", sync_to_thread=False)
def list_faults(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {"faults": _state(request).faults.pending()}


@delete("/faults", operation_id="sf_admin_clear_faults", status_code=204, sync_to_thread=False)
def clear_faults(request: Request[Any, Any, Any]) -> None:
    _state(request).faults.clear()


@post("/sessions/expire", operation_id="sf_admin_expire_sessions", status_code=200, sync_to_thread=False)
def expire_sessions(request: Request[Any, Any, Any]) -> dict[str, int]:
    return {"expired": _state(request).sessions.expire_all()}


@post("/limits", operation_id="sf_admin_set_usage", status_code=200, dto=StrictBody[UsageCommand], return_dto=None,
      sync_to_thread=False)  # fmt: skip
def set_usage(request: Request[Any, Any, Any], data: JSONBody[UsageCommand]) -> dict[str, str]:
    """Set the API usage and/or the daily allocation, e.g. to exhaust it."""
    state = _state(request)
    if data.limit is not None:
        used = state.usage.used
        state.usage = ApiUsage(data.limit)
        state.usage.used = used
    if data.used is not None:
        state.usage.used = data.used
    return {"api_usage": state.usage.header()}


admin_router = Router(
    path="/__admin",
    route_handlers=[
        health,
        reset,
        close_won,
        close_won_many,
        set_approval,
        add_fault,
        list_faults,
        clear_faults,
        expire_sessions,
        set_usage,
    ],
    exception_handlers=exception_handlers,
    include_in_schema=False,
)
