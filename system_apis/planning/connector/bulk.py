"""The bulk-API steps every load and read is built from: upload, run a task, fetch a dump or a file.

One import is one call: the whole CSV goes into the import's data file (cut into `chunk_bytes`
chunks, gzip each, at most `max_chunks` of them, Anaplan's limit is 1000), then one import task
runs over it. Anaplan runs one action per model at a time, so callers hold `model_lock()` around
a whole upload + task (other clients of the model still cause 409s, which the session retries).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from typing import Any

from contracts import PlanningImportResult, RejectedRow
from system_apis.planning.connector.config import AnaplanConfig
from system_apis.planning.connector.mapping import parse_dump, result_counts, split_chunks
from system_apis.planning.connector.session import AnaplanSession
from system_apis.planning.errors import (
    ExportFailed,
    ImportFailed,
    PlanningProtocolError,
    PlanningRequestRejected,
    TaskTimeout,
)

__all__ = ["AnaplanBulk", "task_of"]

_LOCALE = {"localeName": "en_US"}


class AnaplanBulk:
    """Bulk API of one model (files, import/export tasks, dumps) over an authenticated session."""

    def __init__(self, config: AnaplanConfig, session: AnaplanSession) -> None:
        self.config = config
        self.session = session
        self._lock = asyncio.Lock()

    @property
    def model_path(self) -> str:
        return f"/2/0/workspaces/{self.config.workspace_id}/models/{self.config.model_id}"

    def model_lock(self) -> asyncio.Lock:
        return self._lock

    async def run_import(self, import_id: str, file_id: str, content: bytes) -> PlanningImportResult:
        """Upload `content` as the import's source, run the import, collect the rejected rows.

        Rows Anaplan rejects come back in the result (`successful` false, `rejected` filled);
        `ImportFailed` means the import processed no rows at all (e.g. a header mismatch).
        """
        async with self.model_lock():
            await self.upload(file_id, content)
            task = await self.run_task("imports", import_id)
            result = _result_of(task)
            if not result.get("failureDumpAvailable") and not result.get("successful"):
                raise ImportFailed(f"Anaplan import {import_id} processed no rows: {_details_text(result)}", task=task)
            return await self.import_result(import_id, task)

    async def import_result(self, import_id: str, task: dict[str, Any]) -> PlanningImportResult:
        """The canonical result of an import task in any state, with its dump's rows while the dump exists."""
        result = _result_of(task)
        loaded, failed = result_counts(result)
        rejected: list[RejectedRow] = []
        if result.get("failureDumpAvailable"):
            try:
                rejected = parse_dump(await self.dump(import_id, str(task["taskId"])))
            except PlanningRequestRejected as exc:
                if exc.status != 404:
                    raise
                # Anaplan deletes a dump on the next error-free run or 48 h after last access:
                # the counts stay, the rows are gone.
        return PlanningImportResult(
            import_id=import_id,
            task_id=str(task["taskId"]),
            state=str(task.get("taskState")),
            successful=bool(result.get("successful")),
            rows_loaded=loaded,
            rows_rejected=max(failed, len(rejected)),
            rejected=rejected,
        )

    async def upload(self, file_id: str, content: bytes) -> None:
        chunks = split_chunks(content, self.config.chunk_bytes)
        if len(chunks) > self.config.max_chunks:
            raise PlanningRequestRejected(
                f"the file needs {len(chunks)} chunks of {self.config.chunk_bytes} bytes; "
                f"Anaplan takes at most {self.config.max_chunks}: split the load or raise chunk_bytes"
            )
        path = f"{self.model_path}/files/{file_id}"
        # The chunk count is known up front: Anaplan completes the file with its last chunk, so no
        # `/complete` call (that is for uploads of unknown length, `chunkCount: -1`).
        begun = await self.session.json("POST", path, json={"id": file_id, "chunkCount": len(chunks)})
        announced = begun.get("file", {}).get("chunkCount") if isinstance(begun, dict) else None
        if announced != len(chunks):
            raise PlanningProtocolError(
                f"file {file_id} took a chunk count of {announced}, {len(chunks)} were announced"
            )
        for number, chunk in enumerate(chunks):
            await self.session.request(
                "PUT",
                f"{path}/chunks/{number}",
                content=gzip.compress(chunk, mtime=0),
                headers={"Content-Type": "application/x-gzip"},
                expect=(200, 204),
            )

    async def run_task(self, kind: str, object_id: str) -> dict[str, Any]:
        """Start a task and poll it (every `poll_interval` s) until COMPLETE; returns the task JSON."""
        started = await self.session.json("POST", f"{self.model_path}/{kind}/{object_id}/tasks", json=_LOCALE)
        task_id = task_of(started).get("taskId")
        if not isinstance(task_id, str):
            raise PlanningProtocolError(f"no taskId in the answer to starting {kind} {object_id}")
        deadline = time.monotonic() + self.config.task_timeout
        while True:
            # Anaplan asks for one status poll per 5 s at most; the first poll also waits.
            await asyncio.sleep(self.config.poll_interval)
            task = await self.task(kind, object_id, task_id)
            state = task.get("taskState")
            if state == "COMPLETE":
                return task
            if state in ("CANCELLED", "CANCELLING"):
                failed = ImportFailed if kind == "imports" else ExportFailed
                raise failed(f"Anaplan {kind[:-1]} task {task_id} was cancelled", task=task)
            if time.monotonic() >= deadline:
                raise TaskTimeout(
                    f"Anaplan {kind[:-1]} task {task_id} still {state} after {self.config.task_timeout:.0f}s"
                )

    async def task(self, kind: str, object_id: str, task_id: str) -> dict[str, Any]:
        return task_of(await self.session.json("GET", f"{self.model_path}/{kind}/{object_id}/tasks/{task_id}"))

    async def export(self, export_id: str) -> bytes:
        """Run an export and download its file (the export file's id is the export's id)."""
        async with self.model_lock():
            task = await self.run_task("exports", export_id)
            if not _result_of(task).get("successful"):
                raise ExportFailed(f"Anaplan export {export_id} failed", task=task)
            return await self._chunked(f"{self.model_path}/files/{export_id}")

    async def dump(self, import_id: str, task_id: str) -> bytes:
        return await self._chunked(f"{self.model_path}/imports/{import_id}/tasks/{task_id}/dump")

    async def _chunked(self, path: str) -> bytes:
        listing = await self.session.json("GET", f"{path}/chunks")
        chunks = listing.get("chunks") if isinstance(listing, dict) else None
        if not isinstance(chunks, list):
            raise PlanningProtocolError(f"no chunk list at {path}/chunks")
        parts = []
        for chunk in chunks:
            if not isinstance(chunk, dict) or "id" not in chunk:
                raise PlanningProtocolError(f"unreadable chunk entry at {path}/chunks: {chunk!r}")
            response = await self.session.request(
                "GET", f"{path}/chunks/{chunk['id']}", headers={"Accept": "application/octet-stream"}
            )
            parts.append(response.content)
        return b"".join(parts)


def task_of(body: Any) -> dict[str, Any]:
    """The `task` object of a task answer; a protocol error when there is none."""
    task = body.get("task") if isinstance(body, dict) else None
    if not isinstance(task, dict) or not isinstance(task.get("taskId"), str):
        raise PlanningProtocolError("Anaplan answered without a task object")
    return task


def _result_of(task: dict[str, Any]) -> dict[str, Any]:
    result = task.get("result")
    return result if isinstance(result, dict) else {}


def _details_text(result: dict[str, Any]) -> str:
    details = result.get("details")
    texts = (
        [str(d.get("localMessageText")) for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    )
    return "; ".join(texts) or "no details"
