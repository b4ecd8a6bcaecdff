"""A proposal: a change one person asks for and a second person approves or rejects (four eyes).

The proposal keeps what would change (`kind`, `target`, `payload`), the legal entities it affects,
what it was made against (`base`: the active mapping version, or the exception's `updated_at`, so
an approval of a change overtaken by another is refused as stale), and who did what when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from process_apis.schemas import RunOverrides

__all__ = [
    "ActivateRuleSet",
    "DecideProposal",
    "ExceptionOutcomeProposal",
    "Proposal",
    "ProposalKind",
    "ProposalPage",
    "ProposalStatus",
    "RejectProposal",
]

ProposalKind = Literal[
    "mapping_set", "rule_set", "rule_set_activation", "exception_resolve", "exception_dead_letter", "exception_retry"
]
ProposalStatus = Literal["pending", "approved", "rejected"]
Note = Annotated[str, msgspec.Meta(max_length=2000)]


class Proposal(msgspec.Struct, kw_only=True, frozen=True):
    """A proposed change and its decision: who proposed and decided it, and when."""

    id: str
    kind: ProposalKind
    #: The mapping or rule set name, or the exception id.
    target: str
    #: The new mapping or rule set version, `{"number": n, "note": ...}` (rule_set_activation),
    #: `{"note": ...}` (exception outcomes), or `{"note": ..., "overrides": {...}}` (exception_retry).
    payload: dict[str, Any]
    legal_entities: list[str]
    #: What the proposal was made against: the active mapping or rule set version number, or the
    #: exception's `updated_at`.
    base: str
    status: ProposalStatus
    proposed_by: str
    proposed_at: datetime
    note: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    #: After approval: the mapping set version it created, or the exception's new status.
    result: str | None = None


class ProposalPage(msgspec.Struct, kw_only=True, frozen=True):
    """Proposals, newest first; pass `next_cursor` back as `cursor` for the next page."""

    items: list[Proposal]
    next_cursor: str | None = None


class ExceptionOutcomeProposal(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Propose an outcome outside the normal flow: resolve the exception (fixed by hand), dead-letter
    it, or force-retry its quote-to-cash run with overridden values (`retry`, with `overrides`)."""

    outcome: Literal["resolve", "dead_letter", "retry"]
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, examples=["Written off: duplicate deal"])]
    #: Only with `retry` (and required there): the values validation takes for this run instead.
    overrides: RunOverrides | None = None


class ActivateRuleSet(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Make an existing version active again (roll back, or forward); say why."""

    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, examples=["v3 rejects valid EU deals"])]


class DecideProposal(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Approve a proposal; the note is kept with the decision."""

    note: Note = ""


class RejectProposal(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Reject a proposal; say why."""

    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000, examples=["Region mapping is wrong"])]
