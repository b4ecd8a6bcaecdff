"""Workspaces and models as the Integration API lists them, and the model's (empty) processes and actions.

The sandbox holds one workspace and one model. The model defines no processes and no "other"
actions (deletes), so their lists are empty, as Anaplan answers for such a model; a process or
action id is then 404, like any unknown id.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.seed import MODELS, WORKSPACES
from system_apis.planning.sandbox.wire import check_model, envelope, page

__all__ = ["model_handlers"]

MODEL = "/workspaces/{workspace_id:str}/models/{model_id:str}"
AnyRequest = Request[Any, Any, Any]


def _workspace(workspace_id: str) -> dict[str, Any]:
    found = next((w for w in WORKSPACES if w["id"] == workspace_id), None)
    if found is None:
        raise AnaplanError(404, f"Workspace {workspace_id} not found")
    return dict(found)


def _model(model_id: str) -> dict[str, Any]:
    found = next((m for m in MODELS if m["id"] == model_id), None)
    if found is None:
        raise AnaplanError(404, f"Model {model_id} not found")
    return dict(found)


@get("/workspaces", operation_id="list_workspaces", sync_to_thread=False)
def list_workspaces(request: AnyRequest) -> dict[str, Any]:
    return page(request, "workspace", "workspaces", WORKSPACES)


@get("/workspaces/{workspace_id:str}", operation_id="get_workspace", sync_to_thread=False)
def get_workspace(request: AnyRequest, workspace_id: FromPath[str]) -> dict[str, Any]:
    """`{id, name, active, sizeAllowance, currentSize}` of one workspace."""
    return envelope(request, "workspace", item=_workspace(workspace_id))


@get("/models", operation_id="list_all_models", sync_to_thread=False)
def list_all_models(request: AnyRequest) -> dict[str, Any]:
    """Every model the user can open, across workspaces."""
    return page(request, "model", "models", MODELS)


@get("/models/{model_id:str}", operation_id="get_model", sync_to_thread=False)
def get_model(request: AnyRequest, model_id: FromPath[str]) -> dict[str, Any]:
    """`{id, name, activeState, currentWorkspaceId, currentWorkspaceName, modelUrl, categoryValues}`."""
    return envelope(request, "model", model=_model(model_id))


@get("/workspaces/{workspace_id:str}/models", operation_id="list_models", sync_to_thread=False)
def list_models(request: AnyRequest, workspace_id: FromPath[str]) -> dict[str, Any]:
    _workspace(workspace_id)
    return page(request, "model", "models", [m for m in MODELS if m["currentWorkspaceId"] == workspace_id])


@get(MODEL, operation_id="get_workspace_model", sync_to_thread=False)
def get_workspace_model(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    return envelope(request, "model", model=_model(model_id))


@get(MODEL + "/processes", operation_id="list_processes", sync_to_thread=False)
def list_processes(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    return page(request, "process", "processes", [])


@get(MODEL + "/actions", operation_id="list_actions", sync_to_thread=False)
def list_actions(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    return page(request, "action", "actions", [])


model_handlers = [
    list_workspaces,
    get_workspace,
    list_all_models,
    get_model,
    list_models,
    get_workspace_model,
    list_processes,
    list_actions,
]
