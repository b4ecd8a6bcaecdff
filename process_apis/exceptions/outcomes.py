"""Closing outcomes of an exception taken by people: resolve (handled outside the flow) and dead-letter.

Both are written under the lease of the exception's run (the engine's own lease), so they never
race a step. They are used by the direct actions and by an approved proposal (four eyes), which
passes the `updated_at` it was proposed against: an exception changed since is a stale proposal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from process_apis.errors import ExceptionConflict, StaleProposal
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.flows.service import Flows
from process_apis.workflows import QuoteToCash, RunStore
from process_apis.workflows.parking import counter

__all__ = ["Outcome", "settle", "store_for"]

Outcome = Literal["resolve", "dead_letter"]


def store_for(flows: Flows, exception_id: str) -> RunStore | None:
    """The run store whose lease guards the exception's run: quote-to-cash's (None), or the other workflows'."""
    parsed = parse_exception_id(exception_id)
    if parsed is None or parsed[0].startswith("q2c-"):
        return None
    return flows.runner.store


def _refuse(record: ExceptionRecord, action: str) -> ExceptionConflict:
    return ExceptionConflict(
        f"Exception {record.id} is {record.status}; {action} does not apply.", extensions={"status": record.status}
    )


async def settle(
    engine: QuoteToCash,
    flows: Flows,
    exception_id: str,
    outcome: Outcome,
    *,
    actor: str,
    note: str | None,
    unchanged_since: datetime | None = None,
) -> ExceptionRecord | None:
    """Resolve or dead-letter the exception; None if there is none.

    ExceptionConflict when the outcome does not apply to its status; StaleProposal when
    `unchanged_since` is given and the exception changed after it.
    """

    def change(record: ExceptionRecord) -> ExceptionRecord:
        if unchanged_since is not None and record.updated_at != unchanged_since:
            raise StaleProposal(
                f"Exception {record.id} changed after the proposal was made (now {record.status}); propose again.",
                extensions={"status": record.status},
            )
        if outcome == "resolve":
            if record.status == "resolved":
                raise _refuse(record, "resolve")
            return record.act("resolved", actor, engine.clock(), "resolved", note=note)
        if record.status in ("resolved", "dead_lettered"):
            raise _refuse(record, "dead-letter")
        return record.act("dead_lettered", actor, engine.clock(), "dead_lettered", note=note)

    effects = [counter("exceptions:resolved_manually")] if outcome == "resolve" else []
    return await engine.change_exception(exception_id, change, effects, store=store_for(flows, exception_id))
