"""Four eyes: propose a change, and let a second person approve (apply) or reject it.

Rules: the proposer (token `sub`) never approves their own proposal (403 `own-proposal`; they may
withdraw it by rejecting it); a proposal is decided once (409 `proposal-decided`); a proposal whose
target changed since it was made (another mapping version activated, the exception acted on) is
stale (409 `stale-proposal`) and changes nothing. Proposals are entity-scoped: they carry the legal
entities they affect, and a caller sees and decides only those whose entities it is cleared for.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import msgspec

from process_apis.controls import ControlStore, MappingSet, MappingSetBody, MappingSetError, validate_mapping
from process_apis.controls.mapping import affected_entities
from process_apis.controls.rule_store import RuleSetBody, validate_rules
from process_apis.entities import EntityScope
from process_apis.errors import (
    ControlNotFound,
    ExceptionConflict,
    ExceptionNotFound,
    MappingInvalid,
    OverridesInvalid,
    OwnProposal,
    ProposalBusy,
    ProposalDecided,
    ProposalNotFound,
    RuleSetInvalid,
    RunNotFound,
    RunNotResumable,
    StaleProposal,
)
from process_apis.exceptions.model import ExceptionRecord
from process_apis.exceptions.outcomes import settle
from process_apis.flows.service import Flows
from process_apis.proposals.model import ActivateRuleSet, ExceptionOutcomeProposal, Proposal, ProposalKind
from process_apis.proposals.store import ProposalStore, new_proposal_id
from process_apis.schemas import RunOverrides
from process_apis.workflows import QuoteToCash, RunBusy
from process_apis.workflows.overrides import describe, entity_codes

__all__ = ["Proposals"]


def _stamp(at: datetime) -> str:
    return msgspec.json.encode(at).decode().strip('"')


class Proposals:
    """Proposals of mapping-set and rule-set versions, rule-set activations (roll back) and exception
    outcomes, and their decisions."""

    def __init__(
        self,
        *,
        store: ProposalStore,
        controls: ControlStore,
        engine: QuoteToCash,
        flows: Flows,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.controls = controls
        self.engine = engine
        self.flows = flows
        self.clock = clock

    @staticmethod
    def visible(proposal: Proposal, entities: EntityScope) -> bool:
        """Whether the caller is cleared for every entity the proposal affects."""
        return entities.allowed is None or set(proposal.legal_entities) <= entities.allowed

    async def _new(
        self, kind: ProposalKind, target: str, payload: dict[str, object], *, entities: set[str], base: str, by: str
    ) -> Proposal:
        proposal = Proposal(
            id=new_proposal_id(),
            kind=kind,
            target=target,
            payload=payload,
            legal_entities=sorted(entities),
            base=base,
            status="pending",
            proposed_by=by,
            proposed_at=self.clock(),
            note=str(payload.get("description") or payload.get("note") or "") or None,
        )
        await self.store.add(proposal)
        return proposal

    async def propose_mapping(self, name: str, body: MappingSetBody, *, entities: EntityScope, by: str) -> Proposal:
        """A pending new version of mapping set `name` (validated now, 422 if invalid; 403 for others' entities)."""
        active = await self.controls.active(name)
        if active is None:
            raise ControlNotFound(f"There is no mapping set {name!r}; mapping sets start as files in the repo.")
        try:
            candidate = validate_mapping(name, active[0] + 1, body)
        except MappingSetError as exc:
            raise MappingInvalid(str(exc)) from None
        affected = affected_entities(active[1], candidate)
        entities.require(*affected)
        payload = msgspec.to_builtins(body)
        return await self._new("mapping_set", name, payload, entities=affected, base=str(active[0]), by=by)

    async def _all_entities(self, entities: EntityScope) -> set[str]:
        """Every entity of the active mapping set; the caller must be cleared for all (a rule set applies to all)."""
        mapping, _ = await self.controls.current()
        affected = {e.legal_entity for e in mapping.regions.values()}
        entities.require_every(affected)
        return affected

    async def propose_rules(self, name: str, body: RuleSetBody, *, entities: EntityScope, by: str) -> Proposal:
        """A pending new version of rule set `name` (422 if invalid; 403 unless cleared for every entity)."""
        active = await self.controls.rules.active_version(name)
        if active is None:
            raise ControlNotFound(f"There is no rule set {name!r}; rule sets start as files in the repo.")
        try:
            validate_rules(name, active + 1, body)
        except ValueError as exc:
            raise RuleSetInvalid(str(exc)) from None
        affected = await self._all_entities(entities)
        payload = msgspec.to_builtins(body)
        return await self._new("rule_set", name, payload, entities=affected, base=str(active), by=by)

    async def propose_activation(
        self, name: str, number: int, command: ActivateRuleSet, *, entities: EntityScope, by: str
    ) -> Proposal:
        """A pending activation of existing version `number` (a roll back); 404 for an unknown version."""
        active = await self.controls.rules.active_version(name)
        if active is None or await self.controls.rules.version(name, number) is None:
            raise ControlNotFound(f"Rule set {name!r} has no version {number}.")
        affected = await self._all_entities(entities)
        payload: dict[str, object] = {"number": number, "note": command.note}
        return await self._new("rule_set_activation", name, payload, entities=affected, base=str(active), by=by)

    async def propose_outcome(
        self, exception_id: str, command: ExceptionOutcomeProposal, *, entities: EntityScope, by: str
    ) -> Proposal:
        """A pending resolve or dead-letter of the exception (404 for another entity's; 409 if it does not apply)."""
        record = await self.engine.exceptions.get(exception_id)
        if record is None or not await entities.admits(record.legal_entity):
            raise ExceptionNotFound(f"There is no exception {exception_id!r}.")
        if (command.overrides is None) != (command.outcome != "retry"):
            raise OverridesInvalid(
                "`overrides` go with outcome `retry` (and only there): the values the run's validation takes instead."
            )
        closed = {"resolve": ("resolved",), "dead_letter": ("resolved", "dead_lettered")}.get(
            command.outcome, ("resolved", "retrying")
        )
        if record.status in closed:
            raise ExceptionConflict(
                f"Exception {record.id} is {record.status}; {command.outcome} does not apply.",
                extensions={"status": record.status},
            )
        mapping, _ = await self.controls.current()
        # No known entity: only callers cleared for every entity may see and decide it.
        affected = {record.legal_entity} if record.legal_entity is not None else entity_codes(mapping)
        payload: dict[str, object] = {"note": command.note}
        kind: ProposalKind = "exception_resolve" if command.outcome == "resolve" else "exception_dead_letter"
        if command.overrides is not None:
            kind = "exception_retry"
            affected |= self._check_overrides(record, command.overrides, mapping, entities)
            payload["overrides"] = msgspec.to_builtins(command.overrides)
        return await self._new(kind, exception_id, payload, entities=affected, base=_stamp(record.updated_at), by=by)

    @staticmethod
    def _check_overrides(
        record: ExceptionRecord, overrides: RunOverrides, mapping: MappingSet, entities: EntityScope
    ) -> set[str]:
        """The entities the overrides add (403 for one the caller is not cleared for); 409/422 where they cannot apply.

        Overrides change what validation decides, so they apply to a quote-to-cash run parked at
        the `validated` gate; the entity must be one the active mapping set books to.
        """
        if record.workflow != "quote_to_cash" or record.gate != "validated":
            raise ExceptionConflict(
                f"Exception {record.id} is of {record.workflow} at gate {record.gate}; overridden values apply to "
                "quote-to-cash runs that failed validation.",
                extensions={"status": record.status},
            )
        if overrides.legal_entity is None and overrides.tax_jurisdiction is None:
            raise OverridesInvalid("Name at least one overridden value (`legal_entity`, `tax_jurisdiction`).")
        if overrides.legal_entity is None:
            return set()
        known = entity_codes(mapping)
        if overrides.legal_entity not in known:
            raise OverridesInvalid(
                f"{overrides.legal_entity} is not a legal entity of mapping set {mapping.version} "
                f"(known: {', '.join(sorted(known))}).",
                extensions={"legal_entities": sorted(known)},
            )
        entities.require(overrides.legal_entity)
        return {overrides.legal_entity}

    async def get(self, proposal_id: str, entities: EntityScope) -> Proposal:
        proposal = await self.store.get(proposal_id)
        if proposal is None or not self.visible(proposal, entities):
            raise ProposalNotFound(f"There is no proposal {proposal_id!r}.")
        return proposal

    async def _decide(self, proposal: Proposal, decided: Proposal) -> None:
        """Store the decision of a pending proposal; ProposalDecided when it is (or just got) decided."""
        if proposal.status != "pending" or not await self.store.decide(proposal, decided):
            current = await self.store.get(proposal.id) or proposal
            raise ProposalDecided(
                f"Proposal {proposal.id} was {current.status} by {current.decided_by} at {current.decided_at}.",
                extensions={"status": current.status},
            )

    async def _check_fresh(self, proposal: Proposal) -> None:
        if proposal.kind in ("mapping_set", "rule_set", "rule_set_activation"):
            if proposal.kind == "mapping_set":
                active = await self.controls.active_version(proposal.target)
            else:
                active = await self.controls.rules.active_version(proposal.target)
            if str(active) != proposal.base:
                raise StaleProposal(
                    f"{proposal.target} is at version {active}, the proposal was made against "
                    f"version {proposal.base}; propose again.",
                    extensions={"active_version": active},
                )
            return
        record = await self.engine.exceptions.get(proposal.target)
        if record is None or _stamp(record.updated_at) != proposal.base:
            raise StaleProposal(
                f"Exception {proposal.target} changed after the proposal was made; propose again.",
                extensions={"status": record.status if record else None},
            )

    async def approve(
        self, proposal_id: str, *, entities: EntityScope, by: str, actor: str, note: str | None
    ) -> Proposal:
        """Apply the proposal as `by`, a second person (`actor` is how run gates and exception histories
        name them, see `process_apis.actors`); see the module rules for the refusals."""
        proposal = await self.get(proposal_id, entities)
        if proposal.proposed_by == by:
            raise OwnProposal(
                f"{by} proposed {proposal.id}; a second person must approve it.",
                extensions={"proposed_by": proposal.proposed_by},
            )
        if proposal.status == "pending":
            await self._check_fresh(proposal)
        decided = msgspec.structs.replace(
            proposal, status="approved", decided_by=by, decided_at=self.clock(), decision_note=note or None
        )
        await self._decide(proposal, decided)
        try:
            result = await self._apply(proposal, by, actor)
        except (StaleProposal, ExceptionConflict, MappingInvalid, RuleSetInvalid) as exc:
            # Overtaken between the check and the change: record it as not applied, change nothing.
            undone = msgspec.structs.replace(decided, status="rejected", result=f"not applied: {exc.detail}")
            await self.store.decide(decided, undone)
            raise StaleProposal(f"Proposal {proposal.id} was overtaken: {exc.detail}") from None
        except RunBusy:
            # The exception's run is being advanced right now: nothing was applied, keep it pending.
            await self.store.decide(decided, proposal)
            raise ProposalBusy(
                f"The run of {proposal.target} is being advanced; approve {proposal.id} again in a moment."
            ) from None
        except BaseException:
            await self.store.decide(decided, proposal)  # not applied (e.g. Redis failed): pending again
            raise
        applied = msgspec.structs.replace(decided, result=result)
        await self.store.decide(decided, applied)
        return applied

    async def _apply(self, proposal: Proposal, by: str, actor: str) -> str:
        if proposal.kind == "mapping_set":
            body = msgspec.convert(proposal.payload, type=MappingSetBody, strict=True)
            try:
                number, _ = await self.controls.put(proposal.target, body)
            except MappingSetError as exc:
                raise MappingInvalid(str(exc)) from None
            return f"{proposal.target} version {number} active"
        if proposal.kind == "rule_set":
            rules = msgspec.convert(proposal.payload, type=RuleSetBody, strict=True)
            try:
                number = await self.controls.rules.add(proposal.target, rules, author=proposal.proposed_by, approver=by)
            except ValueError as exc:
                raise RuleSetInvalid(str(exc)) from None
            return f"{proposal.target} version {number} active"
        if proposal.kind == "rule_set_activation":
            number = int(str(proposal.payload["number"]))
            if not await self.controls.rules.activate(proposal.target, number):
                raise StaleProposal(f"Rule set {proposal.target} has no version {number}.")
            return f"{proposal.target} version {number} active"
        note = f"{proposal.payload.get('note')} (proposal {proposal.id} by {proposal.proposed_by}, approved by {by})"
        since = msgspec.json.decode(f'"{proposal.base}"'.encode(), type=datetime)
        if proposal.kind == "exception_retry":
            return await self._force_retry(proposal, actor, note, since)
        changed = await settle(
            self.engine,
            self.flows,
            proposal.target,
            "resolve" if proposal.kind == "exception_resolve" else "dead_letter",
            actor=actor,
            note=note,
            unchanged_since=since,
        )
        if changed is None:
            raise StaleProposal(f"Exception {proposal.target} no longer exists.")
        return changed.status

    async def _force_retry(self, proposal: Proposal, actor: str, note: str, since: datetime) -> str:
        """Retry the exception's run with the approved values, under its lease; the run keeps them."""
        overrides = msgspec.convert(proposal.payload["overrides"], type=RunOverrides, strict=True)
        record = await self.engine.exceptions.get(proposal.target)
        if record is None:
            raise StaleProposal(f"Exception {proposal.target} no longer exists.")
        try:
            await self.engine.resume(
                record.run_id,
                actor=actor,
                via="retry",
                note=note,
                overrides=overrides,
                unchanged_since=since,
            )
        except (RunNotFound, RunNotResumable) as exc:
            raise StaleProposal(f"Run {record.run_id} cannot be retried now: {exc.detail}") from None
        return f"retrying with {describe(overrides)}"

    async def reject(self, proposal_id: str, *, entities: EntityScope, by: str, note: str) -> Proposal:
        """Close the proposal unapplied (a second person, or the proposer withdrawing it)."""
        proposal = await self.get(proposal_id, entities)
        decided = msgspec.structs.replace(
            proposal, status="rejected", decided_by=by, decided_at=self.clock(), decision_note=note
        )
        await self._decide(proposal, decided)
        return decided
