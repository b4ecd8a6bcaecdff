"""Recovery of quote-to-cash runs: parking on an exception, retry and replay, people's actions.

Split from the engine (`quote_to_cash.py`) for size: `QuoteToCash` inherits these methods. A
failed gate commits the parked run with its exception (workflows/parking.py); `resume` continues a
parked run from its last good gate; the first gate it then passes settles the exception.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

import msgspec

from process_apis.actors import is_manual
from process_apis.controls import ControlSource, MappingSet
from process_apis.errors import ProcessError, RunNotFound, RunNotResumable, StaleProposal
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import ExceptionStore, exception_key
from process_apis.ports import CrmPort
from process_apis.schemas import PARKED_STATES, QuoteToCashRun, RunOverrides
from process_apis.workflows import commands
from process_apis.workflows.amendments import approve_amendment
from process_apis.workflows.metrics import daily
from process_apis.workflows.overrides import describe, overridden_mapping
from process_apis.workflows.parking import AUTO_RETRY_INDEX, counter, last_good_state, park
from process_apis.workflows.steps import FORECAST_PENDING, NEXT_GATE, QuoteToCashSteps, Step
from process_apis.workflows.store import WAITING_INDEX, Effect, RunBusy, RunSource, RunStore
from process_apis.workflows.validation import is_approved

__all__ = ["QUOTE_TO_CASH_PREFIX", "ExceptionChange", "Recovery", "RetryOther"]

log = logging.getLogger("process_apis.quote_to_cash")
_encoder = msgspec.json.Encoder()

#: An exception action by a person: the record as it is -> the record to store (raises to refuse).
ExceptionChange = Callable[[ExceptionRecord], ExceptionRecord]


class RetryOther(Protocol):
    """Retries a parked run of another workflow from its last good gate (`Flows.retry`)."""

    def __call__(self, run_id: str, *, actor: str, note: str | None) -> Awaitable[object]: ...


#: Quote-to-cash run ids (`run_id_for`); every other parked run belongs to the flow runner.
QUOTE_TO_CASH_PREFIX = "q2c-"


class Recovery:
    """The engine's recovery half; the attributes are set by `QuoteToCash.__init__`."""

    store: RunStore
    exceptions: ExceptionStore
    crm: CrmPort
    steps: QuoteToCashSteps
    controls: ControlSource
    policy: ExceptionPolicy
    lock_wait: float
    clock: Callable[[], datetime]

    async def get(self, run_id: str) -> QuoteToCashRun:
        run = await self.store.get(run_id)
        if run is None:
            raise RunNotFound(f"There is no quote-to-cash run {run_id!r}.")
        return run

    async def resume(
        self,
        run_id: str,
        *,
        actor: str,
        via: Literal["retry", "replay"],
        note: str | None = None,
        into_open_period: bool = False,
        overrides: RunOverrides | None = None,
        unchanged_since: datetime | None = None,
    ) -> QuoteToCashRun:
        """Continue a parked (failed or dead-lettered) run from its last good gate; its exception is `retrying`.

        `into_open_period`: the choice on a `period_closed` exception to post the order into the
        next open ERP period instead of the deal's closed one (recorded on the run as `posting_period`).
        `overrides` (an approved force-retry) are kept on the run and named in its history;
        `unchanged_since` is the exception's `updated_at` the approval was made against.
        Raises RunNotFound, RunNotResumable (the run is not parked, or the choice does not apply),
        RunBusy, or StaleProposal (the exception changed after `unchanged_since`).
        """
        async with self.store.lease(run_id, wait=self.lock_wait) as lease:
            run = await self.get(run_id)
            if run.compensation is not None:
                raise RunNotResumable(
                    f"Run {run_id} was abandoned ({run.compensation.outcome}); it is not retried or replayed. "
                    "Resolve its exception once the ERP order is dealt with.",
                    extensions={"state": run.state},
                )
            if run.state not in PARKED_STATES:
                raise RunNotResumable(
                    f"Run {run_id} is {run.state}; only a failed or dead-lettered run can be retried or replayed.",
                    extensions={"state": run.state},
                )
            record = await self._current_exception(run)
            if unchanged_since is not None and (record is None or record.updated_at != unchanged_since):
                raise StaleProposal(f"The exception of run {run_id} changed after the proposal was made; propose again")
            posting = await self._open_period(run, record) if into_open_period else run.posting_period
            state = last_good_state(run)
            failed_at = run.error.gate if run.error is not None else None
            approved = None
            if record is not None and record.reason_code == "amended_after_booking":
                approved = await approve_amendment(self.steps, self.controls, self.store, run)
            if approved is not None:
                state, failed_at = approved[0], None
            detail = f"{via} by {actor}: continues from {state}" + (f", tries {failed_at} again" if failed_at else "")
            if approved is not None:
                detail += f"; {approved[1]}"
            if posting != run.posting_period:
                detail += f", posting into the open period {posting}"
            if overrides is not None:
                detail += f", with overridden values {describe(overrides)}" + (f" ({note})" if note else "")
            kept = overrides or run.overrides
            resumed = self.steps.enter(
                run,
                state,
                actor,
                detail,
                error=None,
                resumed_at=failed_at or state,
                posting_period=posting,
                overrides=kept,
            )
            effects: list[Effect] = [commands.work_item(resumed), counter(f"runs:quote_to_cash:{via}")]
            if is_manual(actor):  # a person's or client's retry or replay (automatic ones are the sweep's)
                effects.append(daily("manual:quote_to_cash", run.legal_entity, resumed.updated_at))
            if state == "order_created":
                effects.append(Effect(kind="zadd", key=WAITING_INDEX, member=run.id, score=self.clock().timestamp()))
            if state == "order_booked" and self.steps.batch_forecast:
                effects.append(Effect(kind="zadd", key=FORECAST_PENDING, member=run.id, score=self.clock().timestamp()))
            writes = await self._refreshed_source(run) if state == "received" else []
            if approved is not None:
                writes.append(approved[2])
            if record is not None and record.status in ("open", "dead_lettered"):
                changed = record.act(via, actor, self.clock(), "retrying", note=note)
                writes.append(_write(changed))
            await self.store.commit(resumed, lease, effects, writes)
            return resumed

    async def _open_period(self, run: QuoteToCashRun, record: ExceptionRecord | None) -> str:
        """The next open ERP period after the deal's closed one; RunNotResumable where that does not apply."""
        if record is None or record.reason_code != "period_closed" or run.legal_entity is None:
            raise RunNotResumable(
                f"Run {run.id} did not fail on a closed accounting period; `post_into_open_period` does not apply."
            )
        closed = run.posting_period or (await self.store.source(run.id)).opportunity.close_date.strftime("%Y-%m")
        period = await self.steps.open_period_after(run.legal_entity, closed)
        if period is None:
            raise RunNotResumable(f"The ERP has no open period after {closed} for {run.legal_entity}.")
        return period

    async def change_exception(
        self,
        exc_id: str,
        change: ExceptionChange,
        effects: Sequence[Effect] = (),
        *,
        store: RunStore | None = None,
    ) -> ExceptionRecord | None:
        """Apply a person's action to an exception under its run's lease; None if there is no such exception.

        `store` is the run store of the exception's workflow (default: quote-to-cash's), whose
        lease the workflow's engine also takes, so the action never races a step of the run.
        """
        parsed = parse_exception_id(exc_id)
        if parsed is None:
            return None
        runs = store or self.store
        async with runs.lease(parsed[0], wait=self.lock_wait) as lease:
            record = await self.exceptions.get(exc_id)
            if record is None:
                return None
            changed = change(record)
            people = [*effects, daily(f"manual:{changed.workflow}", changed.legal_entity, changed.updated_at)]
            if changed.workflow == "reconciliation" and changed.status == "resolved" != record.status:
                open_ms = int((changed.updated_at - record.created_at) / timedelta(milliseconds=1))
                people.append(daily("recon_break_closed", changed.legal_entity, changed.updated_at))
                people.append(daily("recon_break_ms", changed.legal_entity, changed.updated_at, open_ms))
            await runs.write(record.run_id, lease, [_write(changed)], people)
        return changed

    async def retry_due(self, *, actor: str, limit: int = 100, others: RetryOther | None = None) -> int:
        """Retry the runs whose automatic retry is due (policy `retry.automatic`); returns how many.

        Quote-to-cash runs are resumed here; a run of another workflow (parked by the flow runner
        under the same policy) is handed to `others` (the flows' retry), which raises the same
        RunNotFound / RunNotResumable / RunBusy. Without `others` such runs are left due.
        """
        redis = self.store.redis
        due = await redis.zrangebyscore(AUTO_RETRY_INDEX, "-inf", self.clock().timestamp(), start=0, num=limit)
        resumed = 0
        note = "automatic retry (exception policy)"
        for raw in due:
            run_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            quote_to_cash = run_id.startswith(QUOTE_TO_CASH_PREFIX)
            if not quote_to_cash and others is None:
                continue
            # Whoever removes the entry owns this retry: two sweeping instances never both resume it.
            if not await redis.zrem(AUTO_RETRY_INDEX, run_id):
                continue
            try:
                if quote_to_cash:
                    await self.resume(run_id, actor=actor, via="retry", note=note)
                elif others is not None:
                    await others(run_id, actor=actor, note=note)
                resumed += 1
            except RunBusy:
                await redis.zadd(AUTO_RETRY_INDEX, {run_id: self.clock().timestamp() + 1.0})
            except (RunNotFound, RunNotResumable):
                continue
        return resumed

    async def _refreshed_source(self, run: QuoteToCashRun) -> list[tuple[str, bytes]]:
        """A retry of validation re-reads the opportunity: data fixed in CRM is what it validates.

        Keeps the old snapshot when CRM is down or the deal is no longer approved (the retry then
        fails the same way, visibly, instead of validating something else).
        """
        try:
            opportunity = await self.crm.get_opportunity(run.opportunity_id)
        except ProcessError as exc:
            log.warning("retry keeps the old snapshot", extra={"run_id": run.id, "error": str(exc)})
            return []
        if not is_approved(opportunity):
            return []
        old = await self.store.source(run.id)
        fresh = RunSource(opportunity=opportunity, traceparent=old.traceparent)
        return [(self.store.source_key(run.id), _encoder.encode(fresh))]

    async def _current_exception(self, run: QuoteToCashRun) -> ExceptionRecord | None:
        return await self.exceptions.get(run.exception_id) if run.exception_id else None

    async def _park(
        self, run: QuoteToCashRun, source: RunSource, exc: ProcessError, actor: str, mapping: MappingSet
    ) -> tuple[Step, list[tuple[str, bytes]]]:
        retrying = await self._current_exception(run) if run.resumed_at is not None else None
        entity = overridden_mapping(mapping, run, source.opportunity.region).entity_for(source.opportunity.region)
        parking = park(
            run,
            exc,
            gate=run.resumed_at or NEXT_GATE.get(run.state),
            actor=actor,
            now=self.clock(),
            policy=self.policy,
            legal_entity=run.legal_entity or (entity.legal_entity if entity else None),
            retrying=retrying,
        )
        seq = int(parking.record.id.rpartition("-")[2])
        step = self.steps.fail(
            run, exc, actor, state=parking.state, exception_id=parking.record.id, exceptions=seq, resumed_at=None
        )
        return Step(step.run, (*step.effects, *parking.effects())), [parking.write]

    async def _settle(self, step: Step, actor: str) -> tuple[Step, list[tuple[str, bytes]]]:
        """The first gate a resumed run passes settles its retrying exception."""
        run = msgspec.structs.replace(step.run, resumed_at=None)
        record = await self._current_exception(run)
        if record is None or record.status not in ("retrying", "open"):
            return Step(run, step.effects, step.booked), []
        settled = record.act("auto_resolved", actor, self.clock(), "resolved", note=f"run passed {run.state}")
        effects = (*step.effects, counter(f"exceptions:{record.workflow}:auto_resolved"))
        return Step(run, effects, step.booked), [_write(settled)]


def _write(record: ExceptionRecord) -> tuple[str, bytes]:
    parsed = parse_exception_id(record.id)
    assert parsed is not None  # ids are built by exception_id()
    return exception_key(*parsed), _encoder.encode(record)
