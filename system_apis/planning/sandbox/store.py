"""The sandbox's state: tokens, uploaded files, tasks, dumps and the cube, persisted as JSON.

Time moves tasks: every read first `advance()`s, which completes (and executes) each task whose
`task_delay` has passed, so no background worker is needed and a restart resumes where it was.
With a data directory the state is a snapshot (`anaplan-sandbox.json`) plus a journal
(`anaplan-sandbox.journal`): every mutation appends one line holding what it changed (the token
table, a file or chunk, a task, an executed task's cells and dump); see `journal.py`.
"""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path

import msgspec

from servicekit.journal import Journal, new_generation, write_atomically
from system_apis.planning.sandbox.csvio import write_dump
from system_apis.planning.sandbox.cube import ActualCell, BookingCell
from system_apis.planning.sandbox.errors import AnaplanError
from system_apis.planning.sandbox.execute import export_result, import_result, run_export, run_import
from system_apis.planning.sandbox.records import (
    JournalEntry,
    State,
    StoredFile,
    Task,
    TaskKind,
    Token,
    replay_entry,
)
from system_apis.planning.sandbox.seed import (
    EXPORTS,
    FILES,
    FIRST_PERIOD,
    IMPORTS,
    LAST_PERIOD,
    MODEL_ID,
    ImportDefinition,
    VersionDefinition,
    seed_cube,
)
from system_apis.planning.sandbox.settings import AnaplanSandboxSettings

__all__ = [
    "JOURNAL_FILE",
    "MAX_CHUNKS",
    "STATE_FILE",
    "JournalEntry",
    "Store",
    "StoredFile",
    "Task",
    "TaskKind",
    "Token",
]

STATE_FILE = "anaplan-sandbox.json"
JOURNAL_FILE = "anaplan-sandbox.journal"
#: Anaplan takes at most 1000 chunks per file.
MAX_CHUNKS = 1000

_encoder = msgspec.json.Encoder()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _key(model_id: str, object_id: str) -> str:
    return f"{model_id}/{object_id}"


class Store:
    """All sandbox state behind the operations the routes need; one instance per app."""

    def __init__(self, settings: AnaplanSandboxSettings) -> None:
        self.settings = settings
        self.path = Path(settings.data_dir) / STATE_FILE if settings.data_dir else None
        self.journal = Journal(self.path.with_name(JOURNAL_FILE)) if self.path is not None else None
        self.state = self._load()
        self.save()  # compaction at start: a replayed journal is folded into a fresh snapshot

    # -- persistence ------------------------------------------------------------------------
    def _load(self) -> State:
        if self.path is not None and self.path.exists():
            state = msgspec.json.decode(self.path.read_bytes(), type=State)
            # Re-key: states saved before the actuals module had version and product dimensions.
            state.cube.actuals = {c.key: c for c in state.cube.actuals.values()}
            assert self.journal is not None
            self.journal.replay(state.journal_generation, lambda line: replay_entry(state, line))
            return state
        return State(cube=seed_cube(self.settings.seed_scale))

    def save(self) -> None:
        """Compact: write the whole state as a fresh snapshot (atomically) and start an empty journal."""
        if self.path is None or self.journal is None:
            return
        self.state.journal_generation = new_generation()
        write_atomically(self.path, _encoder.encode(self.state))
        self.journal.start(self.state.journal_generation)

    def close(self) -> None:
        """Clean shutdown: compact and remove the (then empty) journal."""
        if self.journal is not None:
            self.save()
            self.journal.close(remove=True)

    def _log(self, entry: JournalEntry) -> None:
        if self.journal is None:
            return
        self.journal.append(_encoder.encode(entry))
        if self.journal.full:
            self.save()

    def reset(self) -> None:
        """Back to the seed; issued tokens stay valid so connected clients need not log in again."""
        self.state = State(tokens=self.state.tokens, cube=seed_cube(self.settings.seed_scale))
        self.save()

    # -- versions ---------------------------------------------------------------------------
    def set_published(self, version_id: str, published: bool) -> VersionDefinition:
        """Publish (lock: no edit window) or reopen (editable over the whole timescale) a version."""
        for n, version in enumerate(self.state.versions):
            if version.id == version_id:
                window = (None, None) if published else (FIRST_PERIOD, LAST_PERIOD)
                changed = msgspec.structs.replace(version, edit_from=window[0], edit_to=window[1])
                self.state.versions[n] = changed
                self._log(JournalEntry(versions=self.state.versions))
                return changed
        raise AnaplanError(404, f"Version {version_id} not found")

    # -- tokens -----------------------------------------------------------------------------
    def issue_token(self, user: str) -> Token:
        token = Token(
            token_id=str(uuid.uuid4()),
            value=f"{secrets.token_urlsafe(24)}.{secrets.token_urlsafe(32)}",
            refresh_token_id=str(uuid.uuid4()),
            user=user,
            expires_ms=_now_ms() + int(self.settings.token_ttl * 1000),
        )
        now = _now_ms()
        self.state.tokens = {v: t for v, t in self.state.tokens.items() if t.expires_ms > now}
        self.state.tokens[token.value] = token
        self._log(JournalEntry(tokens=self.state.tokens))
        return token

    def valid_token(self, value: str) -> Token | None:
        token = self.state.tokens.get(value)
        return token if token is not None and token.expires_ms > _now_ms() else None

    def refresh_token(self, value: str) -> Token | None:
        """A new token for a still-valid one; the old token stops working."""
        old = self.valid_token(value)
        if old is None:
            return None
        del self.state.tokens[value]
        return self.issue_token(old.user)

    def expire_token(self, value: str | None = None) -> int:
        """Expire one token (or all when `value` is None); returns how many were expired."""
        hit = [t for v, t in self.state.tokens.items() if value is None or v == value]
        for token in hit:
            token.expires_ms = 0
        self._log(JournalEntry(tokens=self.state.tokens))
        return len(hit)

    # -- files ------------------------------------------------------------------------------
    def file(self, model_id: str, file_id: str) -> StoredFile:
        if model_id != MODEL_ID or all(f.id != file_id for f in FILES):
            raise AnaplanError(404, f"File {file_id} not found in model {model_id}")
        return self.state.files.setdefault(_key(model_id, file_id), StoredFile())

    def begin_upload(self, model_id: str, file_id: str, chunk_count: int) -> StoredFile:
        """Start an upload of `chunk_count` chunks (1..MAX_CHUNKS), or of an open number (-1).

        From here until the upload completes the file has no usable content: an import started in
        between fails instead of reading the previous upload.
        """
        if chunk_count != -1 and not 1 <= chunk_count <= MAX_CHUNKS:
            raise AnaplanError(400, f"chunkCount must be -1 (complete the upload with /complete) or 1 to {MAX_CHUNKS}")
        stored = self.file(model_id, file_id)
        stored.pending, stored.announced, stored.ahead = [], chunk_count, {}
        self._log(JournalEntry(file_key=_key(model_id, file_id), file=stored))
        return stored

    def put_chunk(self, model_id: str, file_id: str, number: int, data: bytes) -> None:
        """Store chunk `number`; a chunk sent again replaces itself.

        With an announced `chunkCount` N, chunks 0..N-1 may arrive in any order (clients upload in
        parallel) and the upload completes once all are in, as Anaplan documents. Without one
        (`-1`), chunks come in sequence from 0 and `/complete` ends the upload.
        """
        stored = self.file(model_id, file_id)
        if stored.pending is None:
            stored.pending, stored.announced = [], -1
        announced = stored.announced if stored.announced is not None else -1
        if announced > 0 and not 0 <= number < announced:
            last = announced - 1
            raise AnaplanError(400, f"Chunk {number} is beyond the chunkCount {announced} (chunks 0 to {last})")
        if announced <= 0 and not 0 <= number <= len(stored.pending):
            raise AnaplanError(400, f"Chunk {number} is out of sequence: the next chunk is {len(stored.pending)}")
        stored.place(number, data)
        if announced > 0 and len(stored.pending) == announced:
            self._finish(model_id, file_id, stored)
            return
        self._log(JournalEntry(file_key=_key(model_id, file_id), chunk=(number, data)))

    def complete_upload(self, model_id: str, file_id: str) -> StoredFile:
        """`/complete`: finishes an upload begun with `chunkCount` -1."""
        stored = self.file(model_id, file_id)
        if stored.pending is None:
            raise AnaplanError(400, f"No upload in progress for file {file_id}")
        if stored.announced is not None and stored.announced > 0:
            raise AnaplanError(
                400,
                f"File {file_id} was announced with chunkCount {stored.announced} and completes with its last "
                f"chunk ({stored.received} of {stored.announced} received); /complete is for chunkCount -1",
            )
        return self._finish(model_id, file_id, stored)

    def _finish(self, model_id: str, file_id: str, stored: StoredFile) -> StoredFile:
        assert stored.pending is not None
        stored.content = b"".join(stored.pending)
        stored.chunk_count = len(stored.pending)
        stored.pending, stored.announced, stored.ahead = None, None, {}
        self._log(JournalEntry(file_key=_key(model_id, file_id), file=stored))
        return stored

    def put_whole_file(self, model_id: str, file_id: str, data: bytes) -> StoredFile:
        stored = self.file(model_id, file_id)
        stored.content, stored.chunk_count, stored.pending, stored.announced, stored.ahead = data, 1, None, None, {}
        self._log(JournalEntry(file_key=_key(model_id, file_id), file=stored))
        return stored

    def file_chunks(self, model_id: str, file_id: str) -> list[bytes]:
        """The completed content cut into chunks (export files are cut at `export_chunk_bytes`)."""
        self.advance()  # a finished export writes its file
        content = self.file(model_id, file_id).content
        size = max(1, self.settings.export_chunk_bytes)
        return [content[i : i + size] for i in range(0, len(content), size)] or [b""]

    # -- tasks ------------------------------------------------------------------------------
    def task_state(self, task: Task) -> str:
        if task.result is not None:
            return "COMPLETE"
        elapsed = _now_ms() - task.created_ms
        return "IN_PROGRESS" if elapsed >= self.settings.task_delay * 500 else "NOT_STARTED"

    def advance(self) -> None:
        """Complete every task whose delay has passed, oldest first."""
        due = _now_ms() - int(self.settings.task_delay * 1000)
        ready = sorted(
            (t for t in self.state.tasks.values() if t.result is None and t.created_ms <= due),
            key=lambda t: t.created_ms,
        )
        for task in ready:
            self._execute(task)

    def start_task(self, model_id: str, kind: TaskKind, object_id: str) -> Task:
        """Start an import or export; 409 while another task on the model has not completed."""
        self.advance()
        if model_id != MODEL_ID:
            raise AnaplanError(404, f"Model {model_id} not found")
        definition = next((d for d in (IMPORTS if kind == "import" else EXPORTS) if d.id == object_id), None)
        if definition is None:
            raise AnaplanError(404, f"{kind.capitalize()} {object_id} not found in model {model_id}")
        busy = next((t for t in self.state.tasks.values() if t.model_id == model_id and t.result is None), None)
        if busy is not None:
            raise AnaplanError(
                409, f"The model is busy: {busy.kind} task {busy.task_id} is {self.task_state(busy)}; retry later"
            )
        source = b""
        if isinstance(definition, ImportDefinition):
            stored = self.file(model_id, definition.file_id)
            if stored.uploading:
                # Never the previous upload's rows: the file being uploaded is the import's source.
                received = stored.received
                expected = f"of {stored.announced} " if stored.announced and stored.announced > 0 else ""
                raise AnaplanError(
                    400,
                    f"Import {object_id} cannot run: the upload of its file {definition.file_id} is not complete "
                    f"({received} {expected}chunks received); send the remaining chunks"
                    + (" or POST /complete" if not expected else ""),
                )
            source = stored.content
        task = Task(
            task_id=uuid.uuid4().hex.upper(),
            kind=kind,
            model_id=model_id,
            object_id=object_id,
            created_ms=_now_ms(),
            source=source,
        )
        self.state.tasks[task.task_id] = task
        self._log(JournalEntry(task=task))
        return task

    def task(self, model_id: str, kind: TaskKind, object_id: str, task_id: str) -> Task:
        self.advance()
        task = self.state.tasks.get(task_id)
        if task is None or (task.model_id, task.kind, task.object_id) != (model_id, kind, object_id):
            raise AnaplanError(404, f"Task {task_id} not found")
        return task

    def tasks_of(self, model_id: str, kind: TaskKind, object_id: str) -> list[Task]:
        self.advance()
        found = [
            t for t in self.state.tasks.values() if (t.model_id, t.kind, t.object_id) == (model_id, kind, object_id)
        ]
        return sorted(found, key=lambda t: t.created_ms)

    def dump(self, model_id: str, object_id: str, task_id: str) -> bytes:
        task = self.task(model_id, "import", object_id, task_id)
        dump = self.state.dumps.get(task.task_id)
        if dump is None:
            raise AnaplanError(404, f"No failure dump for task {task_id}: it was never written or has been removed")
        return dump

    def dump_chunks(self, model_id: str, object_id: str, task_id: str) -> list[bytes]:
        """The dump cut into chunks of `export_chunk_bytes` (Anaplan serves dumps in chunks of up to 10 MB)."""
        dump = self.dump(model_id, object_id, task_id)
        size = max(1, self.settings.export_chunk_bytes)
        return [dump[i : i + size] for i in range(0, len(dump), size)] or [b""]

    def _execute(self, task: Task) -> None:
        """Run a due task and journal everything it changed as one entry."""
        if task.kind == "export":
            export = next(d for d in EXPORTS if d.id == task.object_id)
            content, rows = run_export(self.state.cube, export)
            stored = self.file(task.model_id, export.id)
            stored.content, stored.chunk_count, stored.pending = content, 1, None
            task.result = export_result(export.id, rows)
            self._log(JournalEntry(task=task, file_key=_key(task.model_id, export.id), file=stored))
            return
        definition = next(d for d in IMPORTS if d.id == task.object_id)
        outcome = run_import(self.state.cube, definition, task.source, self.state.versions)
        task.source = b""  # executed: the snapshot is not needed any more
        owner = _key(task.model_id, task.object_id)
        previous = self.state.dump_of.pop(owner, None)
        dump_of: dict[str, str | None] = {owner: None}
        dumps: dict[str, bytes] = {}
        if previous is not None:
            # Anaplan keeps one dump per import: the next run replaces or (error-free) removes it.
            self.state.dumps.pop(previous, None)
        if outcome.rejected:
            dumps[task.task_id] = self.state.dumps[task.task_id] = write_dump(outcome.header, outcome.rejected)
            dump_of[owner] = self.state.dump_of[owner] = task.task_id
        task.result = import_result(task.object_id, outcome)
        self._log(
            JournalEntry(
                task=task,
                dumps=dumps,
                dump_of=dump_of,
                bookings=[c for c in outcome.written if isinstance(c, BookingCell)],
                actuals=[c for c in outcome.written if isinstance(c, ActualCell)],
            )
        )
