"""Model files: listing, metadata, chunked upload (plain or gzip) and chunk download."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

from litestar import Request, Response, get, post, put
from litestar.params import FromPath

from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.seed import FILES, FileDefinition
from system_apis.planning.sandbox.store import StoredFile
from system_apis.planning.sandbox.wire import check_model, envelope, json_body, page, store_of

__all__ = ["file_handlers"]

MODEL = "/workspaces/{workspace_id:str}/models/{model_id:str}"
FILE = MODEL + "/files/{file_id:str}"
AnyRequest = Request[Any, Any, Any]


def _file_json(definition: FileDefinition, stored: StoredFile) -> dict[str, Any]:
    return {
        "id": definition.id,
        "name": definition.name,
        "chunkCount": stored.chunk_count,
        "delimiter": definition.delimiter,
        "encoding": definition.encoding,
        "firstDataRow": definition.first_data_row,
        "format": definition.format,
        "headerRow": definition.header_row,
        "separator": definition.separator,
    }


def _definition(file_id: str) -> FileDefinition:
    found = next((f for f in FILES if f.id == file_id), None)
    if found is None:
        raise AnaplanError(404, f"File {file_id} not found")
    return found


async def _chunk_bytes(request: AnyRequest) -> bytes:
    body = await request.body()
    if request.headers.get("content-type", "").split(";")[0].strip() in ("application/x-gzip", "application/gzip"):
        try:
            return gzip.decompress(body)
        except (OSError, EOFError, zlib.error):
            raise AnaplanError(400, "The chunk is declared gzip but does not decompress") from None
    return body


@get(MODEL + "/files", operation_id="list_files", sync_to_thread=False)
def list_files(request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str]) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    store = store_of(request)
    return page(request, "file", "files", [_file_json(f, store.file(model_id, f.id)) for f in FILES])


@post(FILE, operation_id="begin_upload", status_code=200)
async def begin_upload(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], file_id: FromPath[str]
) -> dict[str, Any]:
    """`{"chunkCount": N}` starts an upload that completes with chunk N-1; `-1` one that `/complete` ends."""
    check_model(workspace_id, model_id)
    body = await json_body(request)
    count = body.get("chunkCount")
    if not isinstance(count, int) or isinstance(count, bool):
        raise AnaplanError(400, "chunkCount is required: the number of chunks to upload, or -1 to end with /complete")
    stored = store_of(request).begin_upload(model_id, file_id, count)
    return envelope(request, "file", file=_file_json(_definition(file_id), stored) | {"chunkCount": count})


@get(FILE, operation_id="get_file", sync_to_thread=False)
def get_file(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], file_id: FromPath[str]
) -> Response[bytes]:
    """The whole content of the file's last completed upload (or export), as clients download a
    file of one chunk; a longer file is read chunk by chunk (`/chunks/{n}`), its `chunkCount` in the list."""
    check_model(workspace_id, model_id)
    _definition(file_id)
    content = b"".join(store_of(request).file_chunks(model_id, file_id))
    return Response(content=content, media_type="application/octet-stream")


@put(FILE, operation_id="put_whole_file", status_code=204)
async def put_whole_file(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], file_id: FromPath[str]
) -> None:
    """A file small enough for one request: upload and complete in one call."""
    check_model(workspace_id, model_id)
    store_of(request).put_whole_file(model_id, file_id, await _chunk_bytes(request))


@put(FILE + "/chunks/{number:int}", operation_id="put_chunk", status_code=204)
async def put_chunk(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    file_id: FromPath[str],
    number: FromPath[int],
) -> None:
    """Chunks arrive in order from 0; `application/x-gzip` chunks are stored decompressed."""
    check_model(workspace_id, model_id)
    store_of(request).put_chunk(model_id, file_id, number, await _chunk_bytes(request))


@post(FILE + "/complete", operation_id="complete_upload", status_code=200)
async def complete_upload(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], file_id: FromPath[str]
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    await json_body(request)
    stored = store_of(request).complete_upload(model_id, file_id)
    return envelope(request, "file", file=_file_json(_definition(file_id), stored))


@get(FILE + "/chunks", operation_id="list_file_chunks", sync_to_thread=False)
def list_file_chunks(
    request: AnyRequest, workspace_id: FromPath[str], model_id: FromPath[str], file_id: FromPath[str]
) -> dict[str, Any]:
    check_model(workspace_id, model_id)
    chunks = store_of(request).file_chunks(model_id, file_id)
    return envelope(request, "chunk", chunks=[{"id": str(n), "name": f"Chunk {n}"} for n in range(len(chunks))])


@get(FILE + "/chunks/{number:int}", operation_id="get_file_chunk", sync_to_thread=False)
def get_file_chunk(
    request: AnyRequest,
    workspace_id: FromPath[str],
    model_id: FromPath[str],
    file_id: FromPath[str],
    number: FromPath[int],
) -> Response[bytes]:
    check_model(workspace_id, model_id)
    chunks = store_of(request).file_chunks(model_id, file_id)
    if not 0 <= number < len(chunks):
        raise AnaplanError(404, f"Chunk {number} of file {file_id} not found")
    return Response(content=chunks[number], media_type="application/octet-stream")


file_handlers = [
    list_files,
    begin_upload,
    get_file,
    put_whole_file,
    put_chunk,
    complete_upload,
    list_file_chunks,
    get_file_chunk,
]
