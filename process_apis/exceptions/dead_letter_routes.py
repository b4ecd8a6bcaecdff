"""`/v1/dead-letters`: the event dead-letter streams, listed with reason and attempts, and replayed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Router, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody, QueryParameter

from process_apis import audit
from process_apis.entities import EntityScope, entity_scope
from process_apis.errors import DeadLetterNotFound, DeadLetterNotReplayable
from process_apis.exceptions.dead_letters import DeadLetter, DeadLetterPage, DeadLetterStore, ReplayedDeadLetter
from servicekit import BadRequest, StrictBody, require_scopes
from servicekit.openapi import financially_material, problem_spec

__all__ = ["ReplayDeadLetter", "dead_letters_router"]

StreamName = Literal["crm", "erp", "finance", "planning"]
EntryId = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,20}-[0-9]{1,20}$", examples=["1764547200000-0"])]
OptionalNote = Annotated[str, msgspec.Meta(max_length=2000)]


class ReplayDeadLetter(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Put the dead letter's event back onto its stream (after fixing what made the consumers give up)."""

    note: OptionalNote = ""


_NOT_FOUND = problem_spec(
    "No such dead letter in that stream, or one of a legal entity the caller is not cleared for (dead-letter-not-found)"
)


def _store(state: State) -> DeadLetterStore:
    store: DeadLetterStore = state.dead_letters
    return store


@get(
    "/dead-letters",
    operation_id="listDeadLetters",
    summary="List the events consumers gave up on, oldest first",
    guards=[require_scopes("exceptions:read")],
    responses={
        400: problem_spec(
            "A filter or `limit` outside the contract (invalid-request), or a `cursor` this API did not issue "
            "(invalid-cursor)"
        )
    },
)
async def list_dead_letters(
    *,
    dead_letters: NamedDependency[DeadLetterStore],
    entities: NamedDependency[EntityScope],
    stream: Annotated[StreamName | None, QueryParameter(description="Only this event stream's dead letters")] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=500, description="Page size, 1..500")] = 100,
    cursor: Annotated[str | None, QueryParameter(description="`next_cursor` of the previous page")] = None,
) -> DeadLetterPage:
    """Dead letters of the event streams with why the consumer group gave up and after how many deliveries.

    Only events of the caller's legal entities are listed; events that carry no entity (or are not
    events at all) only to callers cleared for every entity.
    """
    try:
        return await dead_letters.page(entities.admits, stream=stream, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise BadRequest(str(exc), slug="invalid-cursor", title="Invalid cursor") from None


async def _found(store: DeadLetterStore, stream: str, entry_id: str, entities: EntityScope) -> DeadLetter:
    letter = await store.get(stream, entry_id)
    if letter is None or not await entities.admits(letter.legal_entity):
        raise DeadLetterNotFound(f"There is no dead letter {entry_id!r} in stream {stream!r}.")
    return letter


@get(
    "/dead-letters/{stream:str}/{entry_id:str}",
    operation_id="getDeadLetter",
    summary="Read one dead letter",
    guards=[require_scopes("exceptions:read")],
    responses={404: _NOT_FOUND},
)
async def get_dead_letter(
    stream: FromPath[StreamName],
    entry_id: FromPath[EntryId],
    dead_letters: NamedDependency[DeadLetterStore],
    entities: NamedDependency[EntityScope],
) -> DeadLetter:
    """The dead letter with its event, reason, consumer group and attempts."""
    return await _found(dead_letters, stream, entry_id, entities)


@post(
    "/dead-letters/{stream:str}/{entry_id:str}/replay",
    operation_id="replayDeadLetter",
    summary="Replay a dead letter onto its event stream",
    dto=StrictBody[ReplayDeadLetter],
    return_dto=None,
    status_code=202,
    guards=[require_scopes("exceptions:write")],
    opt=financially_material(),
    responses={
        404: _NOT_FOUND,
        409: problem_spec(
            "The dead letter is not an event (undecodable) or was replayed meanwhile (dead-letter-not-replayable)"
        ),
    },
)
async def replay_dead_letter(
    *,
    stream: FromPath[StreamName],
    entry_id: FromPath[EntryId],
    data: JSONBody[ReplayDeadLetter],
    request: Request[Any, Any, Any],
    dead_letters: NamedDependency[DeadLetterStore],
    entities: NamedDependency[EntityScope],
) -> ReplayedDeadLetter:
    """Append the event to its stream again (a new entry) and remove it from the dead letters, once.

    Every consumer group of the stream receives it again; handlers are idempotent, so a group that
    had handled the event changes nothing. Replay what made the consumers give up is fixed.
    """
    letter = await _found(dead_letters, stream, entry_id, entities)
    if letter.event_id is None:
        raise DeadLetterNotReplayable(
            f"Dead letter {entry_id} of {stream} is not a CloudEvent; it would be dead-lettered again."
        )
    replayed = await dead_letters.replay(letter)
    if replayed is None:
        raise DeadLetterNotReplayable(f"Dead letter {entry_id} of {stream} was replayed meanwhile.")
    await audit.record(
        request,
        "dead_letter.replayed",
        resource=f"{stream}/{entry_id}",
        legal_entity=letter.legal_entity,
        detail={
            "event": letter.event_id,
            "replayed_as": replayed.replayed_as,
            "reason": letter.reason,
            "attempts": str(letter.attempts or ""),
            "note": data.note,
        },
    )
    return replayed


dead_letters_router = Router(
    path="/v1",
    route_handlers=[list_dead_letters, get_dead_letter, replay_dead_letter],
    dependencies={"dead_letters": Provide(_store, sync_to_thread=False), "entities": Provide(entity_scope)},
    tags=["dead-letters"],
)
