"""Abandoning a quote-to-cash run, with the compensating step for what it created in the ERP.

A run a person gives up on (the deal was lost, or it failed past the ERP order and will not be
finished) must not leave an order behind that nobody will book or bill. Under the run's lease:

- no ERP order was created: nothing to compensate;
- an order exists and is not booked: it is closed in the ERP (`close_sales_order`), the
  compensating step recorded in the run's history and in `compensation`;
- the ERP refuses (the order is booked, fulfilled or billed): a `manual_reversal_required`
  exception for order management (exception policy) says which order to reverse.

The run ends `dead_lettered` (or `failed` on the reversal exception) and is never retried or
replayed again; the exception it was parked on, if any, is resolved with a note saying why. An
ERP that is unavailable leaves the run as it was (the caller tries again).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

import msgspec

from process_apis.errors import DownstreamRejected, ManualReversalRequired, RunNotAbandonable, RunNotFound
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import ExceptionStore, exception_key
from process_apis.schemas import Compensation, QuoteToCashRun
from process_apis.workflows.outage import SYSTEMS, outage_index
from process_apis.workflows.parking import AUTO_RETRY_INDEX, counter, park
from process_apis.workflows.steps import FORECAST_PENDING, QuoteToCashSteps
from process_apis.workflows.store import WAITING_INDEX, Effect, RunStore

__all__ = ["Abandonment"]

_encoder = msgspec.json.Encoder()
Outcome = Literal["nothing_to_compensate", "order_closed", "reversal_required"]
_UNSETTLED = ("open", "retrying", "dead_lettered")
#: The exception's `gate` for a reversal: the run's gates are done, the order is posted.
_REVERSAL_GATE = "abandoned"


class Abandonment:
    """The engine's abandonment half; the attributes are set by `QuoteToCash.__init__`."""

    store: RunStore
    exceptions: ExceptionStore
    steps: QuoteToCashSteps
    policy: ExceptionPolicy
    lock_wait: float
    clock: Callable[[], datetime]

    async def abandon(self, run_id: str, *, actor: str, note: str) -> QuoteToCashRun:
        """Abandon the run and compensate its ERP order; the run as stored then.

        Raises RunNotFound, RunNotAbandonable (completed, or abandoned already), RunBusy, and
        DownstreamUnavailable when the ERP cannot be asked (nothing changed then).
        """
        async with self.store.lease(run_id, wait=self.lock_wait) as lease:
            run = await self.store.get(run_id)
            if run is None:
                raise RunNotFound(f"There is no quote-to-cash run {run_id!r}.")
            if run.compensation is not None or run.state == "completed":
                why = "was abandoned already" if run.compensation is not None else "is completed"
                raise RunNotAbandonable(
                    f"Run {run_id} {why}; there is nothing to abandon.", extensions={"state": run.state}
                )
            now = self.clock()
            outcome, detail = await self._compensate(run)
            effects = [
                counter(f"runs:quote_to_cash:abandoned:{outcome}"),
                *(Effect(kind="zrem", key=key, member=run.id) for key in _INDEXES),
            ]
            current = await self.exceptions.get(run.exception_id) if run.exception_id else None
            writes: list[tuple[str, bytes]] = []
            compensation = Compensation(
                outcome=outcome, at=now, actor=actor, detail=detail, erp_order_id=run.erp_order_id
            )
            if outcome == "reversal_required":
                refusal = ManualReversalRequired(
                    f"{detail}; reverse ERP sales order {run.erp_order_id} (run abandoned: {note})"
                )
                parking = park(
                    run, refusal, gate=_REVERSAL_GATE, actor=actor, now=now, policy=self.policy,
                    legal_entity=run.legal_entity, retrying=None,
                )  # fmt: skip
                compensation = msgspec.structs.replace(compensation, exception_id=parking.record.id)
                step = self.steps.fail(
                    run, refusal, actor, state="failed", exception_id=parking.record.id,
                    exceptions=run.exceptions + 1, compensation=compensation, resumed_at=None,
                )  # fmt: skip
                abandoned = step.run
                effects += parking.effects()
                writes.append(parking.write)
                superseded = f"run abandoned: {detail}; reversal asked in {parking.record.id}"
            else:
                abandoned = self.steps.enter(
                    run, "dead_lettered", actor, f"abandoned by {actor}: {detail} ({note})",
                    compensation=compensation, resumed_at=None,
                )  # fmt: skip
                superseded = f"run abandoned: {detail}"
            if current is not None and current.status in _UNSETTLED:
                writes.append(_write(current.act("resolved", actor, now, "resolved", note=superseded)))
            await self.store.commit(abandoned, lease, effects, writes)
            return abandoned

    async def _compensate(self, run: QuoteToCashRun) -> tuple[Outcome, str]:
        """Close the run's ERP order: (outcome, what happened)."""
        if run.erp_order_id is None:
            return "nothing_to_compensate", "no ERP order was created: nothing to compensate"
        try:
            order = await self.steps.erp.close_sales_order(run.erp_order_id)
        except DownstreamRejected as exc:
            if exc.downstream_status == 404:
                return "nothing_to_compensate", f"ERP sales order {run.erp_order_id} no longer exists"
            if exc.downstream_status == 409:
                return "reversal_required", f"the ERP refused to close sales order {run.erp_order_id}: {exc.detail}"
            raise
        return "order_closed", f"compensation: ERP sales order {order.id} closed (now {order.status})"


#: The indexes a run may wait in; an abandoned run waits for nothing.
_INDEXES = (WAITING_INDEX, FORECAST_PENDING, AUTO_RETRY_INDEX, *(outage_index(s) for s in SYSTEMS))


def _write(record: ExceptionRecord) -> tuple[str, bytes]:
    parsed = parse_exception_id(record.id)
    assert parsed is not None  # ids are built by exception_id()
    return exception_key(*parsed), _encoder.encode(record)
