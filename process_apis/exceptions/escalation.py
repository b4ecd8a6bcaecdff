"""SLA escalation: an unsettled exception past its SLA goes to its owner team's escalation target.

The targets are configuration in the exception policy (`escalation` by owner team, else
`default_escalation`). Escalating sets `escalated_at` / `escalated_to` on the exception, which the
queue filters on and the ops summary counts; its status, history and `updated_at` do not change
(escalation is not an action on the exception: a proposal made before it stays valid). It is
written under the exception's run's lease, like people's actions, and happens once: an instance
that finds the exception escalated (or settled) meanwhile leaves it.
"""

from __future__ import annotations

import msgspec

from process_apis.exceptions.model import ExceptionRecord
from process_apis.exceptions.outcomes import store_for
from process_apis.flows.service import Flows
from process_apis.workflows import QuoteToCash, RunBusy
from process_apis.workflows.parking import counter

__all__ = ["UNSETTLED", "escalate_due"]

#: Statuses of an exception still waiting for someone (its SLA runs).
UNSETTLED = frozenset({"open", "retrying", "dead_lettered"})


class _Settled(Exception):
    """The exception was escalated or settled since it was listed: nothing to do."""


async def escalate_due(engine: QuoteToCash, flows: Flows | None) -> int:
    """Escalate every unsettled exception whose SLA is due and that is not escalated yet; how many.

    Exceptions of workflows other than quote-to-cash are left alone without `flows` (their runs'
    lease is the flow runner's). A run busy past the lease wait is escalated on a later call.
    """
    now = engine.clock()
    due = await engine.exceptions.all(
        lambda r: r.status in UNSETTLED and r.escalated_at is None and r.sla_due_at <= now
    )
    escalated = 0
    for record in due:
        if flows is None and not record.run_id.startswith("q2c-"):
            continue

        def change(current: ExceptionRecord) -> ExceptionRecord:
            if current.escalated_at is not None or current.status not in UNSETTLED:
                raise _Settled
            target = engine.policy.escalation_for(current.owner_team)
            return msgspec.structs.replace(current, escalated_at=now, escalated_to=target)

        effects = [counter(f"exceptions:{record.workflow}:escalated")]
        store = store_for(flows, record.id) if flows is not None else None
        try:
            if await engine.change_exception(record.id, change, effects, store=store) is not None:
                escalated += 1
        except (_Settled, RunBusy):
            continue
    return escalated
