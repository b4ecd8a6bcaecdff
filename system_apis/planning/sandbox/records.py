"""The sandbox's persisted state (tokens, files, tasks, dumps, cube, versions) and its journal entries."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from system_apis.planning.sandbox.cube import ActualCell, BookingCell, Cube
from system_apis.planning.sandbox.seed import VERSIONS, VersionDefinition, seed_cube

__all__ = ["JournalEntry", "State", "StoredFile", "Task", "TaskKind", "Token", "replay_entry"]

TaskKind = Literal["import", "export"]


class Token(msgspec.Struct, kw_only=True):
    token_id: str
    value: str
    refresh_token_id: str
    user: str
    expires_ms: int


class StoredFile(msgspec.Struct, kw_only=True):
    """A model file: its last completed content and, while an upload runs, the chunks so far.

    `announced` is the upload's `chunkCount`: N (the upload completes when chunks 0..N-1 are in) or
    -1 (it completes on `/complete`); None when no upload runs. `pending` holds the chunks received
    in sequence from 0, `ahead` those of an announced upload that arrived before a lower one
    (clients upload chunks in parallel).
    """

    content: bytes = b""
    chunk_count: int = 0
    pending: list[bytes] | None = None
    announced: int | None = None
    ahead: dict[int, bytes] = msgspec.field(default_factory=dict)

    def place(self, number: int, data: bytes) -> None:
        """Put chunk `number` where it belongs (checked by the caller); a chunk sent again replaces itself."""
        pending = self.pending if self.pending is not None else []
        self.pending = pending
        if number < len(pending):
            pending[number] = data
        elif number > len(pending):
            self.ahead[number] = data
        else:
            pending.append(data)
            while len(pending) in self.ahead:
                pending.append(self.ahead.pop(len(pending)))

    @property
    def received(self) -> int:
        """How many chunks of the running upload are in."""
        return len(self.pending or ()) + len(self.ahead)

    @property
    def uploading(self) -> bool:
        """An upload was begun and has not completed: the file has no usable content until it does."""
        return self.pending is not None


class Task(msgspec.Struct, kw_only=True):
    task_id: str
    kind: TaskKind
    model_id: str
    object_id: str
    created_ms: int
    #: The import's source file as it was when the task started.
    source: bytes = b""
    result: dict[str, Any] | None = None


class State(msgspec.Struct, kw_only=True):
    tokens: dict[str, Token] = msgspec.field(default_factory=dict)
    files: dict[str, StoredFile] = msgspec.field(default_factory=dict)
    tasks: dict[str, Task] = msgspec.field(default_factory=dict)
    #: Failure dumps by task id; `dump_of` says which task's dump an import currently keeps.
    dumps: dict[str, bytes] = msgspec.field(default_factory=dict)
    dump_of: dict[str, str] = msgspec.field(default_factory=dict)
    cube: Cube = msgspec.field(default_factory=seed_cube)
    versions: list[VersionDefinition] = msgspec.field(default_factory=lambda: list(VERSIONS))
    #: Which journal continues this snapshot (see journal.py); 0 before the first compaction.
    journal_generation: int = 0


class JournalEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One mutation, as the state it left behind (so replaying it twice is harmless).

    `dump_of` maps an import to its dump's task id, or to None when the import's dump was removed.
    """

    tokens: dict[str, Token] | None = None
    versions: list[VersionDefinition] | None = None
    file_key: str | None = None
    file: StoredFile | None = None
    chunk: tuple[int, bytes] | None = None
    task: Task | None = None
    dumps: dict[str, bytes] | None = None
    dump_of: dict[str, str | None] | None = None
    bookings: list[BookingCell] | None = None
    actuals: list[ActualCell] | None = None


_entry_decoder = msgspec.json.Decoder(JournalEntry)


def replay_entry(state: State, line: bytes) -> None:
    """Apply one journal entry to a freshly loaded state."""
    entry = _entry_decoder.decode(line)
    if entry.tokens is not None:
        state.tokens = entry.tokens
    if entry.versions is not None:
        state.versions = entry.versions
    if entry.file_key is not None:
        if entry.file is not None:
            state.files[entry.file_key] = entry.file
        if entry.chunk is not None:
            number, data = entry.chunk
            state.files.setdefault(entry.file_key, StoredFile()).place(number, data)
    if entry.task is not None:
        state.tasks[entry.task.task_id] = entry.task
    for owner, task_id in (entry.dump_of or {}).items():
        previous = state.dump_of.pop(owner, None)
        if previous is not None and previous != task_id:
            state.dumps.pop(previous, None)
        if task_id is not None:
            state.dump_of[owner] = task_id
    state.dumps.update(entry.dumps or {})
    for booking in entry.bookings or ():
        state.cube.put_booking(booking)
    for actual in entry.actuals or ():
        state.cube.put_actual(actual)
