"""Amendments: a CRM change to a deal after its approval reaches the deal's run.

The CRM feed publishes `crm.opportunity.amended.v1` when an approved deal changes its amount,
lines, close date, account, currency, stage or approval. Under the run's lease, compared with the
run's source snapshot (what the run works from):

- no ERP order yet: the snapshot is replaced and the run validates again from `received`;
- an order exists, not booked: the new values are validated and the order is upserted (same
  external id, an idempotency key of the amendment); the snapshot is replaced, so the forecast
  commits what the ERP holds; the run's history names each field `old -> new`;
- the order is booked: an `amended_after_booking` exception for order management lists the
  differences and the run is parked on it, so nothing downstream moves; the snapshot is kept
  (planning shows only what the ERP booked), the new values are kept as `RunSource.amended`;
- the deal left closed-won (lost, re-opened, approval withdrawn): the run is abandoned
  (`Abandonment`: the order closed if not booked, `manual_reversal_required` if it is).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from contracts import Account, Opportunity, ProblemFieldError
from process_apis.controls import ControlSource
from process_apis.errors import (
    DownstreamRejected,
    ManualReversalRequired,
    ProcessError,
    RunNotResumable,
    ValidationFailed,
)
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import ExceptionStore, exception_key
from process_apis.schemas import PARKED_STATES, Compensation, QuoteToCashRun, RunState
from process_apis.workflows import commands
from process_apis.workflows.abandon import Abandonment
from process_apis.workflows.parking import counter, park
from process_apis.workflows.retry import with_retries
from process_apis.workflows.steps import QuoteToCashSteps
from process_apis.workflows.store import WAITING_INDEX, Effect, Lease, RunSource, RunStore, run_id_for
from process_apis.workflows.validation import is_approved, validate_opportunity

__all__ = ["AmendedAfterBooking", "Amendment", "Amendments", "approve_amendment", "differences"]

log = logging.getLogger("process_apis.quote_to_cash")
_encoder = msgspec.json.Encoder()
_UNSETTLED = ("open", "retrying", "dead_lettered")
#: The exception's `gate` for an amendment after booking.
_AMENDED_GATE = "amended"


class AmendedAfterBooking(ProcessError):
    status, slug, title = 409, "amended-after-booking", "Amended after booking"


@dataclass(frozen=True, kw_only=True)
class Amendment:
    """A deal as the CRM holds it after a change to its approved terms (`crm.opportunity.amended.v1`)."""

    opportunity: Opportunity
    account: Account | None = None
    source: str = ""

    @property
    def run_id(self) -> str:
        return run_id_for(self.opportunity.id)

    @property
    def key(self) -> str:
        """The idempotency key of the ERP write this amendment makes: one per CRM change (its values
        and modification time, so a change back to earlier values is written again)."""
        terms = {**_terms(self.opportunity), "last_modified": self.opportunity.last_modified.isoformat()}
        digest = hashlib.sha256(_encoder.encode(terms)).hexdigest()[:16]
        return commands.step_key(self.opportunity.id, f"amend-order-{digest}")


def _terms(opportunity: Opportunity) -> dict[str, object]:
    lines = [
        f"{line.product_code} x {line.quantity} @ {line.unit_price.amount} = {line.total.amount}"
        for line in opportunity.lines
    ]
    return {
        "amount": str(opportunity.amount.amount),
        "currency": opportunity.amount.currency,
        "lines": "; ".join(lines),
        "close_date": opportunity.close_date.isoformat(),
        "account_id": opportunity.account_id,
        "stage": opportunity.stage,
        "approval_status": opportunity.approval_status,
    }


def differences(old: Opportunity, new: Opportunity) -> list[tuple[str, str, str]]:
    """(field, old, new) for each amendable field that differs, as text (amounts as Decimal text)."""
    before, after = _terms(old), _terms(new)
    return [(field, str(before[field]), str(after[field])) for field in before if before[field] != after[field]]


def describe(changes: list[tuple[str, str, str]]) -> str:
    return "; ".join(f"{field}: {old} -> {new}" for field, old, new in changes)


class Amendments(Abandonment):
    """The engine's amendment half; the attributes are set by `QuoteToCash.__init__`."""

    store: RunStore
    exceptions: ExceptionStore
    steps: QuoteToCashSteps
    policy: ExceptionPolicy
    controls: ControlSource
    lock_wait: float
    clock: Callable[[], datetime]

    async def amend(self, amendment: Amendment, *, actor: str) -> QuoteToCashRun | None:
        """Apply a CRM amendment to the deal's run; the run as stored then (None: no such run).

        Raises RunBusy (the caller redelivers) and DownstreamUnavailable when the ERP cannot be
        asked (nothing changed then).
        """
        run_id = amendment.run_id
        async with self.store.lease(run_id, wait=self.lock_wait, read=True) as lease:
            run = self.store.decode_run(lease.run)
            source = self.store.decode_source(lease.source)
            if run is None or source is None:
                log.info("amendment of a deal without a run", extra={"run_id": run_id})
                return None
            if run.compensation is not None:
                return run  # abandoned: its order is dealt with by people
            changes = differences(source.opportunity, amendment.opportunity)
            waiting = source.amended is not None and not differences(source.amended, amendment.opportunity)
            if not changes or waiting:
                return run  # a repeat of an amendment already applied, or already waiting for approval
            if is_approved(amendment.opportunity):
                if _booked(run) or await self._booked_meanwhile(run):
                    apply = self._after_booking
                elif run.erp_order_id is None:
                    apply = self._before_order
                else:
                    apply = self._order_update
                return await apply(run, source, amendment=amendment, changes=changes, lease=lease, actor=actor)
        # Lost, re-opened or no longer approved: compensation under the abandonment's own lease.
        if run.state == "completed" or _booked(run):
            return await self._reversal(run_id, amendment, changes, actor)
        return await self.abandon(run_id, actor=actor, note=f"deal left closed-won in CRM ({describe(changes)})")

    async def _booked_meanwhile(self, run: QuoteToCashRun) -> bool:
        """Whether the ERP booked the run's order before the run heard of it (the ERP would take an
        upsert of a booked order: the amendment must not change what was booked behind its back)."""
        if run.erp_order_id is None:
            return False
        order_id = run.erp_order_id
        key = commands.step_key(run.opportunity_id, "amend-read-order")
        order, _ = await with_retries(lambda: self.steps.erp.get_sales_order(order_id), self.steps.retry, what=key)
        return order.booked

    async def _before_order(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        *,
        amendment: Amendment,
        changes: list[tuple[str, str, str]],
        lease: Lease,
        actor: str,
    ) -> QuoteToCashRun:
        """No order yet: validate again from `received` with the new values."""
        writes = [self._source_write(run, source, amendment)]
        current = await self.exceptions.get(run.exception_id) if run.exception_id else None
        note = f"superseded by a CRM amendment ({describe(changes)})"
        if run.state in PARKED_STATES and current is not None and current.status in _UNSETTLED:
            writes.append(_write(current.act("resolved", actor, self.clock(), "resolved", note=note)))
        detail = f"amended in CRM after approval: {describe(changes)}; validated again with the new values"
        again = self.steps.enter(run, "received", actor, detail, error=None, resumed_at=None)
        effects = [commands.work_item(again), counter("runs:quote_to_cash:amended:revalidated")]
        await self.store.commit(again, lease, effects, writes)
        return again

    async def _order_update(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        *,
        amendment: Amendment,
        changes: list[tuple[str, str, str]],
        lease: Lease,
        actor: str,
    ) -> QuoteToCashRun:
        """An order not booked yet: validate the new values and upsert the order (same external id)."""
        opportunity = amendment.opportunity
        mapping, rules = await self.controls.current()
        account = amendment.account if amendment.account is not None else source.account
        if account is not None and account.id != opportunity.account_id:
            account = None
        outcome = validate_opportunity(opportunity, mapping, rules, account)
        entity = outcome.entity
        if entity is None or not outcome.ok:
            refusal = ValidationFailed(
                f"the CRM amendment ({describe(changes)}) of opportunity {opportunity.id} fails validation: "
                f"{outcome.violations[0].message if outcome.violations else 'region not mapped'}; "
                f"ERP sales order {run.erp_order_id} keeps its values",
                errors=outcome.violations,
            )
            return await self._park_on(run, refusal, lease, actor, writes=[])
        external_id = run.erp_order_external_id or commands.order_external_id(opportunity)
        key = amendment.key
        try:
            tax_codes = await self.steps.tax_codes(run, opportunity, entity, mapping, account)
            codes = [c.id for c in tax_codes] if tax_codes is not None else run.tax_code_ids
            order, _ = await self.steps.upsert_order(
                run, opportunity, entity, mapping, external_id=external_id, key=key, tax_code_ids=codes
            )
        except (ValidationFailed, DownstreamRejected) as exc:
            # The new values cannot go onto the order (or the ERP refuses them): the run parks on
            # it, the order keeps what it had, and a person decides.
            return await self._park_on(run, exc, lease, actor, writes=[])
        detail = (
            f"amended in CRM after approval: {describe(changes)}; "
            f"ERP sales order {order.id} ({external_id}) updated ({order.status})"
        )
        updated = self.steps.enter(
            run,
            run.state,
            actor,
            detail,
            key=key,
            erp_order_id=order.id,
            tax_code_ids=[c.id for c in tax_codes] if tax_codes is not None else run.tax_code_ids,
        )
        effects = [counter("runs:quote_to_cash:amended:order_updated")]
        if run.state == "order_created":
            effects.append(Effect(kind="zadd", key=WAITING_INDEX, member=run.id, score=self.clock().timestamp()))
        await self.store.commit(updated, lease, effects, [self._source_write(run, source, amendment)])
        return updated

    async def _after_booking(
        self,
        run: QuoteToCashRun,
        source: RunSource,
        *,
        amendment: Amendment,
        changes: list[tuple[str, str, str]],
        lease: Lease,
        actor: str,
    ) -> QuoteToCashRun:
        """The order is booked: park the run on `amended_after_booking`; the snapshot keeps the booked values."""
        refusal = AmendedAfterBooking(
            f"opportunity {amendment.opportunity.id} was amended in CRM after ERP sales order "
            f"{run.erp_order_id} was booked: {describe(changes)}. Nothing downstream moves until the "
            "amendment is approved (retry) or rejected (resolve).",
            errors=[ProblemFieldError(location=f"$.{field}", message=f"{old} -> {new}") for field, old, new in changes],
        )
        kept = msgspec.structs.replace(source, amended=amendment.opportunity)
        write = (self.store.source_key(run.id), _encoder.encode(kept))
        return await self._park_on(run, refusal, lease, actor, writes=[write])

    async def _park_on(
        self,
        run: QuoteToCashRun,
        refusal: ProcessError,
        lease: Lease,
        actor: str,
        *,
        writes: list[tuple[str, bytes]],
        compensation: Compensation | None = None,
    ) -> QuoteToCashRun:
        now = self.clock()
        current = await self.exceptions.get(run.exception_id) if run.exception_id else None
        parking = park(
            run, refusal, gate=_AMENDED_GATE, actor=actor, now=now, policy=self.policy,
            legal_entity=run.legal_entity, retrying=None,
        )  # fmt: skip
        if compensation is not None:
            compensation = msgspec.structs.replace(compensation, exception_id=parking.record.id)
        step = self.steps.fail(
            run, refusal, actor, state="failed", exception_id=parking.record.id,
            exceptions=run.exceptions + 1, resumed_at=None, compensation=compensation or run.compensation,
        )  # fmt: skip
        writes = [*writes, parking.write]
        if current is not None and current.status in _UNSETTLED:
            note = f"superseded by {parking.record.id} (CRM amendment)"
            writes.append(_write(current.act("resolved", actor, now, "resolved", note=note)))
        await self.store.commit(step.run, lease, [*step.effects, *parking.effects()], writes)
        return step.run

    async def _reversal(
        self, run_id: str, amendment: Amendment, changes: list[tuple[str, str, str]], actor: str
    ) -> QuoteToCashRun:
        """A booked deal lost or re-opened in CRM: `manual_reversal_required` (through abandonment
        while the run is open: the ERP refuses to close a booked order)."""
        note = f"deal left closed-won in CRM after booking ({describe(changes)})"
        run = await self.store.get(run_id)
        if run is not None and run.state != "completed":
            return await self.abandon(run_id, actor=actor, note=note)
        async with self.store.lease(run_id, wait=self.lock_wait, read=True) as lease:
            run = self.store.decode_run(lease.run)
            assert run is not None  # checked above; runs are never deleted
            refusal = ManualReversalRequired(f"reverse ERP sales order {run.erp_order_id}: {note}")
            compensation = Compensation(
                outcome="reversal_required", at=self.clock(), actor=actor, detail=note, erp_order_id=run.erp_order_id
            )
            # Like an abandoned run: never retried or replayed, the exception says what to reverse.
            return await self._park_on(run, refusal, lease, actor, writes=[], compensation=compensation)

    def _source_write(self, run: QuoteToCashRun, source: RunSource, amendment: Amendment) -> tuple[str, bytes]:
        account = amendment.account if amendment.account is not None else source.account
        if account is not None and account.id != amendment.opportunity.account_id:
            account = None
        fresh = RunSource(opportunity=amendment.opportunity, traceparent=source.traceparent, account=account)
        return self.store.source_key(run.id), _encoder.encode(fresh)


async def approve_amendment(
    steps: QuoteToCashSteps, controls: ControlSource, store: RunStore, run: QuoteToCashRun
) -> tuple[RunState, str, tuple[str, bytes]] | None:
    """Apply the amendment a run was parked on after booking (its retry is the approval): the ERP
    order takes the amended values (same external id), and the run's snapshot becomes the amended
    deal. The state to continue from: `order_booked` when the corrected order is booked (the
    forecast is committed again with its amounts), else `order_created` (it waits for the booking).
    None when the run holds no amendment. Raises RunNotResumable when the amended deal fails
    validation (nothing is written then)."""
    source = await store.source(run.id)
    amended = source.amended
    if amended is None:
        return None
    mapping, rules = await controls.current()
    account = source.account if source.account is not None and source.account.id == amended.account_id else None
    outcome = validate_opportunity(amended, mapping, rules, account)
    entity = outcome.entity
    if entity is None or not outcome.ok:
        why = outcome.violations[0].message if outcome.violations else f"region {amended.region!r} is not mapped"
        raise RunNotResumable(
            f"Run {run.id}: the amended deal fails validation ({why}); correct it in CRM (the next amendment "
            "replaces this one) or resolve the exception to keep what was booked.",
            extensions={"state": run.state},
        )
    tax_codes = await steps.tax_codes(run, amended, entity, mapping, account)
    command = commands.sales_order_upsert(
        amended,
        entity,
        mapping,
        run.erp_customer_id or "",
        posting_period=run.posting_period,
        tax_code_ids=[c.id for c in tax_codes] if tax_codes is not None else run.tax_code_ids,
    )
    external_id = run.erp_order_external_id or commands.order_external_id(amended)
    key = Amendment(opportunity=amended).key
    order, _ = await with_retries(
        lambda: steps.erp.upsert_sales_order(external_id, command, idempotency_key=key), steps.retry, what=key
    )
    state: RunState = "order_booked" if order.booked else "order_created"
    detail = (
        f"amendment approved ({describe(differences(source.opportunity, amended))}): "
        f"ERP sales order {order.id} ({external_id}) corrected ({order.status})"
    )
    fresh = RunSource(opportunity=amended, traceparent=source.traceparent, account=account)
    return state, detail, (store.source_key(run.id), _encoder.encode(fresh))


def _booked(run: QuoteToCashRun) -> bool:
    return any(gate.gate == "order_booked" for gate in run.gates)


def _write(record: ExceptionRecord) -> tuple[str, bytes]:
    parsed = parse_exception_id(record.id)
    assert parsed is not None  # ids are built by exception_id()
    return exception_key(*parsed), _encoder.encode(record)
