"""Import and export definitions, their tasks (start, status, list) and import failure dumps."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.execute import COLUMNS
from system_apis.planning.sandbox.seed import EXPORTS, FILES, IMPORTS
from system_apis.planning.sandbox.store import Store, Task, TaskKind
from system_apis.planning.sandbox.wire import check_model, envelope, json_body, page, store_of

__all__ = ["task_handlers"]

MODEL = "/workspaces/{workspace_id:str}/models/{model_id:str}"
IMPORT = MODEL + "/imports/{import_id:str}"
EXPORT = MODEL + "/exports/{export_id:str}"
AnyRequest = Request[Any, Any, Any]


def _task_json(store: Store, task: Task, *, full: bool = True) -> dict[str, Any]:
    state = store.task_state(task)
    body: dict[str, Any] = {"taskId": task.task_id, "taskState": state, "creationTime": task.created_ms}
    if full:
        body["progress"] = {"NOT_STARTED": 0.0, "IN_PROGRESS": 0.5}.get(state, 1.0)
        body["currentStep"] = {"NOT_STARTED": "Waiting.", "IN_PROGRESS": "Running."}.get(state, "Complete.")
        if task.result is not None:
            body["result"] = task.result
    return body


async def _start(request: AnyRequest, model_id: str, kind: TaskKind, object_id: str) -> dict[str, Any]:
    body = await json_body(request)
    locale = body.get("localeName", "en_US")
    if not isinstance(locale, str):
        raise AnaplanError(400, "localeName must be a string such as en_US")
    store = store_of(request)
    task = store.start_task(model_id, kind, object_id)
    return envelope(request, "task", task=_task_json(store, task, full=False))


@get(MODEL + "/imports", operation_id="list_imports", sync_to_thread=False)
def list_imports(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    items = [
        {"id": d.id, "name": d.name, "importDataSourceId": d.file_id, "importType": d.import_type} for d in IMPORTS
    ]
    return page(request, "import", "imports", items)


@get(IMPORT, operation_id="get_import", sync_to_thread=False)
def get_import(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], import_id: FromPath[str]
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    definition = next((d for d in IMPORTS if d.id == import_id), None)
    if definition is None:
        raise AnaplanError(404, f"Import {import_id} not found")
    source = next(f for f in FILES if f.id == definition.file_id)
    columns = COLUMNS[definition.module]
    metadata = {
        "name": definition.name,
        "type": "FILE",
        "source": {
            "type": "FILE",
            "textEncoding": source.encoding,
            "columnSeparator": source.separator,
            "textDelimiter": source.delimiter,
            "headerRow": source.header_row,
            "firstDataRow": source.first_data_row,
            "decimalSeparator": ".",
            "headerNames": list(columns),
            "columnCount": len(columns),
        },
    }
    return envelope(request, "importMetadata", importMetadata=metadata)


@get(MODEL + "/exports", operation_id="list_exports", sync_to_thread=False)
def list_exports(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    items = [
        {"id": d.id, "name": d.name, "exportType": d.export_type, "exportFormat": d.export_format, "encoding": "UTF-8"}
        for d in EXPORTS
    ]
    return page(request, "export", "exports", items)


@post(IMPORT + "/tasks", operation_id="start_import_task", status_code=200)
async def start_import_task(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], import_id: FromPath[str]
) -> dict[str, Any]:
    """Start an import; 409 while another task runs on the model."""
    check_model(workspace_id, model_id)
    return await _start(request, model_id, "import", import_id)


@get(IMPORT + "/tasks", operation_id="list_import_tasks", sync_to_thread=False)
def list_import_tasks(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], import_id: FromPath[str]
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    store = store_of(request)
    tasks = [_task_json(store, t, full=False) for t in store.tasks_of(model_id, "import", import_id)]
    return page(request, "task", "tasks", tasks)


@get(IMPORT + "/tasks/{task_id:str}", operation_id="get_import_task", sync_to_thread=False)
def get_import_task(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    import_id: FromPath[str],
    task_id: FromPath[str],
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    store = store_of(request)
    return envelope(request, "taskStatus", task=_task_json(store, store.task(model_id, "import", import_id, task_id)))


@get(IMPORT + "/tasks/{task_id:str}/dump", operation_id="get_import_dump", sync_to_thread=False)
def get_import_dump(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    import_id: FromPath[str],
    task_id: FromPath[str],
) -> Response[bytes]:
    check_model(workspace_id, model_id)
    dump = store_of(request).dump(model_id, import_id, task_id)
    return Response(content=dump, media_type="application/octet-stream")


@get(IMPORT + "/tasks/{task_id:str}/dump/chunks", operation_id="list_import_dump_chunks", sync_to_thread=False)
def list_import_dump_chunks(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    import_id: FromPath[str],
    task_id: FromPath[str],
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    chunks = store_of(request).dump_chunks(model_id, import_id, task_id)
    return envelope(request, "chunk", chunks=[{"id": str(n), "name": f"Chunk {n}"} for n in range(len(chunks))])


@get(
    IMPORT + "/tasks/{task_id:str}/dump/chunks/{number:int}", operation_id="get_import_dump_chunk", sync_to_thread=False
)
def get_import_dump_chunk(
    request: AnyRequest,
    *,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    import_id: FromPath[str],
    task_id: FromPath[str],
    number: FromPath[int],
) -> Response[bytes]:
    check_model(workspace_id, model_id)
    chunks = store_of(request).dump_chunks(model_id, import_id, task_id)
    if not 0 <= number < len(chunks):
        raise AnaplanError(404, f"Chunk {number} of the dump of task {task_id} not found")
    return Response(content=chunks[number], media_type="application/octet-stream")


@post(EXPORT + "/tasks", operation_id="start_export_task", status_code=200)
async def start_export_task(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], export_id: FromPath[str]
) -> dict[str, Any]:
    """Start an export; its output becomes the file with the export's id."""
    check_model(workspace_id, model_id)
    return await _start(request, model_id, "export", export_id)


@get(EXPORT + "/tasks/{task_id:str}", operation_id="get_export_task", sync_to_thread=False)
def get_export_task(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    export_id: FromPath[str],
    task_id: FromPath[str],
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    store = store_of(request)
    return envelope(request, "taskStatus", task=_task_json(store, store.task(model_id, "export", export_id, task_id)))


task_handlers = [
    list_imports,
    get_import,
    list_exports,
    start_import_task,
    list_import_tasks,
    get_import_task,
    get_import_dump,
    list_import_dump_chunks,
    get_import_dump_chunk,
    start_export_task,
    get_export_task,
]
