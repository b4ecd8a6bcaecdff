"""The planning connector: committed bookings into Anaplan by bulk import, and back out by export.

A load is: CSV (stable booking codes, exact decimal amounts) -> chunked gzip upload -> complete ->
import task -> poll until COMPLETE -> failure dump -> `PlanningImportResult`. Anaplan runs one
action per model at a time, so this connector serializes its own imports and exports per model
(other clients of the model still cause 409s, which the session retries).
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Sequence
from typing import Any

import httpx

from contracts import CommittedBooking, PlanningImportResult
from system_apis.planning.connector.config import AnaplanConfig
from system_apis.planning.connector.mapping import (
    bookings_csv,
    parse_bookings_export,
    parse_dump,
    result_counts,
    split_chunks,
)
from system_apis.planning.connector.session import AnaplanSession
from system_apis.planning.errors import (
    ExportFailed,
    ImportFailed,
    PlanningProtocolError,
    PlanningRequestRejected,
    TaskTimeout,
)

__all__ = ["PlanningConnector"]

_LOCALE = {"localeName": "en_US"}


class PlanningConnector:
    """Anaplan bulk API for one model; share one instance per process (it holds the token and locks)."""

    def __init__(self, config: AnaplanConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.session = AnaplanSession(config, http)
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def _model(self) -> str:
        return f"/2/0/workspaces/{self.config.workspace_id}/models/{self.config.model_id}"

    def _model_lock(self) -> asyncio.Lock:
        return self._locks.setdefault(self.config.model_id, asyncio.Lock())

    async def check(self) -> None:
        """Readiness: we can log in and the configured model is in the configured workspace."""
        body = await self.session.json("GET", f"/2/0/workspaces/{self.config.workspace_id}/models")
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list) or all(
            not isinstance(m, dict) or m.get("id") != self.config.model_id for m in models
        ):
            raise PlanningRequestRejected(
                f"model {self.config.model_id} is not in workspace {self.config.workspace_id}"
            )

    async def load_committed_bookings(self, bookings: Sequence[CommittedBooking]) -> PlanningImportResult:
        """Import `bookings` into the committed-bookings module; re-loading the same codes overwrites.

        Rows Anaplan rejects come back in the result (`successful` false, `rejected` filled);
        `ImportFailed` means the import did not process rows at all (e.g. a header mismatch).
        """
        import_id = self.config.bookings_import_id
        async with self._model_lock():
            await self._upload(self.config.bookings_file_id, bookings_csv(bookings))
            task = await self._run_task("imports", import_id)
            result = task.get("result") if isinstance(task.get("result"), dict) else {}
            assert isinstance(result, dict)
            loaded, failed = result_counts(result)
            rejected = []
            if result.get("failureDumpAvailable"):
                rejected = parse_dump(await self._dump(import_id, str(task["taskId"])))
            elif not result.get("successful"):
                raise ImportFailed(f"Anaplan import {import_id} processed no rows: {_details_text(result)}", task=task)
        return PlanningImportResult(
            import_id=import_id,
            task_id=str(task["taskId"]),
            state=str(task.get("taskState")),
            successful=bool(result.get("successful")),
            rows_loaded=loaded,
            rows_rejected=max(failed, len(rejected)),
            rejected=rejected,
        )

    async def read_committed_bookings(
        self, *, legal_entity: str | None = None, period: str | None = None
    ) -> list[CommittedBooking]:
        """The committed-bookings module read back through its export, filtered by entity and period."""
        export_id = self.config.bookings_export_id
        async with self._model_lock():
            task = await self._run_task("exports", export_id)
            result = task.get("result")
            if not isinstance(result, dict) or not result.get("successful"):
                raise ExportFailed(f"Anaplan export {export_id} failed", task=task)
            content = await self._download(export_id)
        return [
            b
            for b in parse_bookings_export(content)
            if (legal_entity is None or b.legal_entity == legal_entity) and (period is None or b.period == period)
        ]

    # -- steps ----------------------------------------------------------------------------------
    async def _upload(self, file_id: str, content: bytes) -> None:
        path = f"{self._model}/files/{file_id}"
        await self.session.json("POST", path, json={"id": file_id, "chunkCount": -1})
        chunks = split_chunks(content, self.config.chunk_bytes)
        for number, chunk in enumerate(chunks):
            await self.session.request(
                "PUT",
                f"{path}/chunks/{number}",
                content=gzip.compress(chunk, mtime=0),
                headers={"Content-Type": "application/x-gzip"},
                expect=(200, 204),
            )
        body = await self.session.json("POST", f"{path}/complete", json={"id": file_id, "chunkCount": len(chunks)})
        count = body.get("file", {}).get("chunkCount") if isinstance(body, dict) else None
        if count != len(chunks):
            raise PlanningProtocolError(f"file {file_id} completed with {count} chunks, {len(chunks)} were sent")

    async def _run_task(self, kind: str, object_id: str) -> dict[str, Any]:
        """Start a task and poll it (every `poll_interval` s) until COMPLETE; returns the task JSON."""
        started = await self.session.json("POST", f"{self._model}/{kind}/{object_id}/tasks", json=_LOCALE)
        task_id = _task(started).get("taskId")
        if not isinstance(task_id, str):
            raise PlanningProtocolError(f"no taskId in the answer to starting {kind} {object_id}")
        deadline = time.monotonic() + self.config.task_timeout
        while True:
            await asyncio.sleep(self.config.poll_interval)
            task = _task(await self.session.json("GET", f"{self._model}/{kind}/{object_id}/tasks/{task_id}"))
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

    async def _chunked(self, path: str) -> bytes:
        listing = await self.session.json("GET", f"{path}/chunks")
        chunks = listing.get("chunks") if isinstance(listing, dict) else None
        if not isinstance(chunks, list):
            raise PlanningProtocolError(f"no chunk list at {path}/chunks")
        parts = []
        for chunk in chunks:
            response = await self.session.request(
                "GET", f"{path}/chunks/{chunk['id']}", headers={"Accept": "application/octet-stream"}
            )
            parts.append(response.content)
        return b"".join(parts)

    async def _dump(self, import_id: str, task_id: str) -> bytes:
        return await self._chunked(f"{self._model}/imports/{import_id}/tasks/{task_id}/dump")

    async def _download(self, file_id: str) -> bytes:
        return await self._chunked(f"{self._model}/files/{file_id}")


def _task(body: Any) -> dict[str, Any]:
    task = body.get("task") if isinstance(body, dict) else None
    if not isinstance(task, dict):
        raise PlanningProtocolError("Anaplan answered without a task object")
    return task


def _details_text(result: dict[str, Any]) -> str:
    details = result.get("details")
    texts = (
        [str(d.get("localMessageText")) for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    )
    return "; ".join(texts) or "no details"
