"""Reconciliation: CRM closed-won vs ERP booked orders vs planning committed bookings, per entity-period.

    received -> sources_read -> compared -> completed

Keys are the deterministic ids quote-to-cash writes: opportunity `<id>` in CRM, sales order with
external id `SF-<id>` in the ERP, committed-bookings cells `SO<order id>-<line>` in planning. Every
difference beyond the tolerance is a break, and every break has one exception
(`reconciliation_break`, owned by controllership) however often it is found again: breaks are
matched across reruns by fingerprint (flows/breaks.py), and a break a rerun no longer finds is
closed. The report, the breaks ledger and the exceptions commit together on the entity-period's
slot; the report stays retrievable at `GET /v1/reconciliations/{id}`.

Only a published planning version is reported: the committed bookings are read with the version
they belong to, and when it is not published (a draft the workflow still writes into) the report
names the version, says `planning_reported: false`, shows no planning amounts and raises no
planning break; the entity-period's open planning breaks stay as they were, neither closed nor
found again, until a run reads a published version. The version state read is handed to
`PublishedVersions`, so a publication is recorded before any figure of it is reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from contracts import ForecastVersion, ProblemFieldError
from process_apis.controls import ControlSource
from process_apis.errors import ProcessError, ValidationFailed
from process_apis.exceptions.model import ExceptionRecord, parse_exception_id
from process_apis.exceptions.policy import ExceptionPolicy
from process_apis.exceptions.store import EXCEPTION_INDEX, exception_key
from process_apis.flows.breaks import (
    BreakLedger,
    Found,
    fingerprint,
    ledger_id,
    ledger_key,
    parse_ledger_id,
    settle_breaks,
)
from process_apis.ports import CrmWonPort, ErpOrdersPort, PlanningBookingsPort
from process_apis.versions import PublishedVersions
from process_apis.workflows.metrics import daily, since_period_end_ms
from process_apis.workflows.parking import counter
from process_apis.workflows.store import Effect, RunBusy, RunStore
from servicekit.redis import get_many

__all__ = [
    "Break",
    "MovedDeal",
    "Reconciler",
    "ReconciliationBusy",
    "ReconciliationReport",
    "SourceTotal",
    "StartReconciliation",
]

BreakKind = Literal[
    "missing_in_erp",
    "missing_in_crm",
    "missing_in_planning",
    "orphan_in_planning",
    "amount_crm_erp",
    "amount_erp_planning",
]
#: The breaks that compare against planning: not raised, and not closed, while its version is unpublished.
PLANNING_BREAKS: frozenset[str] = frozenset({"missing_in_planning", "orphan_in_planning", "amount_erp_planning"})
_encoder = msgspec.json.Encoder()


class StartReconciliation(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Reconcile one legal entity's period; differences up to `tolerance` (absolute) are no break."""

    legal_entity: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}[0-9]{2}$", examples=["DE01"])]
    period: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-11"])]
    #: Absolute amount (a decimal string, >= 0) in the entity's currency.
    tolerance: Annotated[Decimal, msgspec.Meta(examples=["0.01"])] = Decimal("0.00")


class ReconciliationBusy(ProcessError):
    """Another reconciliation of the same entity and period is still running (they run one at a time)."""

    status, slug, title = 409, "reconciliation-busy", "Reconciliation in progress"


class SourceTotal(msgspec.Struct, kw_only=True, frozen=True):
    records: int
    amount: Decimal


class Break(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One difference beyond tolerance, keyed by opportunity (or ERP order), with its exception."""

    kind: BreakKind
    key: str
    detail: str
    crm_amount: Decimal | None = None
    erp_amount: Decimal | None = None
    planning_amount: Decimal | None = None
    difference: Decimal | None = None
    exception_id: str | None = None
    #: Stable identity across reruns (`<entity>/<period>/<kind>/<key>`): one exception per fingerprint.
    fingerprint: str | None = None


class MovedDeal(msgspec.Struct, kw_only=True, frozen=True):
    """A closed-won deal whose ERP order was posted into another period than its close date's: a
    person chose the open period on a `period_closed` exception (the run's `posting_period`). An
    explained timing difference, listed in both periods' reports, not a break."""

    opportunity_id: str
    erp_order_id: str
    close_period: str
    posting_period: str
    amount: Decimal


class ReconciliationReport(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    legal_entity: str
    period: str
    tolerance: Decimal
    currency: str | None
    mapping_version: str
    started_at: datetime
    finished_at: datetime
    cycle_time_seconds: float
    crm_closed_won: SourceTotal
    erp_booked: SourceTotal
    #: The committed bookings of the published planning version `planning_version`; zero records and
    #: amount 0 when `planning_reported` is false (the version's draft figures are not reported).
    planning_committed: SourceTotal
    breaks: list[Break]
    status: Literal["balanced", "breaks"]
    planning_version: Annotated[
        ForecastVersion | None,
        msgspec.Meta(
            description=(
                "The planning version the committed bookings were read from, and whether it stayed published "
                "throughout the read; null when the planning platform named none (and on reports made before "
                "versions were named)."
            )
        ),
    ] = None
    moved: Annotated[
        list[MovedDeal],
        msgspec.Meta(
            description=(
                "Deals closed in one period and posted to the ERP in another by a person's decision (a closed "
                "ERP period): matched through the quote-to-cash run's `posting_period`, so neither period "
                "shows them as missing_in_erp or missing_in_crm."
            )
        ),
    ] = msgspec.field(default_factory=list)
    planning_reported: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "false: `planning_version` was not published, so planning is not reported: `planning_committed` "
                "is zero, no planning break (missing_in_planning, orphan_in_planning, amount_erp_planning) is "
                "raised, and the open planning breaks of the entity-period stay as they were. `status` then "
                "covers CRM against ERP only."
            )
        ),
    ] = True


_decoder = msgspec.json.Decoder(ReconciliationReport)
_ledger_decoder = msgspec.json.Decoder(BreakLedger)
_exception_decoder = msgspec.json.Decoder(ExceptionRecord)


def _report_key(report_id: str) -> str:
    """`fig:flow:{rec-<entity>-<period>}:report:<n>`: on the entity-period's slot."""
    slot, _, number = report_id.rpartition("-")
    return f"fig:flow:{{{slot}}}:report:{number}"


def _legacy_report_key(report_id: str) -> str:
    """Where reports were kept before breaks had fingerprints (one slot per report)."""
    return f"fig:flow:{{{report_id}}}:report"


class Reconciler:
    def __init__(
        self,
        *,
        redis: Any,
        crm: CrmWonPort,
        erp: ErpOrdersPort,
        planning: PlanningBookingsPort,
        controls: ControlSource,
        policy: ExceptionPolicy,
        clock: Callable[[], datetime],
        lock_wait: float = 5.0,
        versions: PublishedVersions | None = None,
    ) -> None:
        """`lock_wait`: how long a run waits for another run of its entity-period (then ReconciliationBusy);
        `versions` records the planning version state each run reads."""
        self.redis: Any = redis
        self.lock_wait = lock_wait
        self.store = RunStore(redis, prefix="fig:flow")
        self.deals = RunStore(redis)  # quote-to-cash runs: where a deal was posted, and why
        self.crm, self.erp, self.planning = crm, erp, planning
        self.controls = controls
        self.policy = policy
        self.clock = clock
        self.versions = versions

    async def _moved(
        self, period: str, crm: dict[str, Decimal], erp: dict[str, tuple[str, Decimal]]
    ) -> list[MovedDeal]:
        """The deals found on one side only whose quote-to-cash run posted the ERP order into another
        period than the close date's (`posting_period`): closed here and posted later, or posted here
        and closed earlier."""
        one_sided = sorted(set(crm) ^ set(erp))
        if not one_sided:
            return []
        moved = []
        for _, run, source in await self.deals.get_many([f"q2c-{opp}" for opp in one_sided]):
            if run is None or source is None or run.posting_period is None or run.erp_order_id is None:
                continue
            closed = source.opportunity.close_date.strftime("%Y-%m")
            if closed == run.posting_period or period not in (closed, run.posting_period):
                continue
            opp = run.opportunity_id
            amount = crm[opp] if opp in crm else erp[opp][1]
            moved.append(
                MovedDeal(
                    opportunity_id=opp,
                    erp_order_id=run.erp_order_id,
                    close_period=closed,
                    posting_period=run.posting_period,
                    amount=amount,
                )
            )
        return moved

    async def get(self, report_id: str) -> ReconciliationReport | None:
        if parse_ledger_id(report_id) is None:
            return None
        raw = await self.redis.get(_report_key(report_id))
        if raw is None:
            raw = await self.redis.get(_legacy_report_key(report_id))
        return _decoder.decode(raw) if raw is not None else None

    async def ledger(self, legal_entity: str, period: str) -> BreakLedger:
        """The entity-period's open breaks and the tolerance its last run used (empty if never run)."""
        raw = await self.redis.get(ledger_key(legal_entity, period))
        return _ledger_decoder.decode(raw) if raw is not None else BreakLedger()

    async def run(
        self,
        command: StartReconciliation,
        *,
        actor: str,
        correlation_id: str | None,
        retrying: str | None = None,
        retry_note: str | None = None,
    ) -> ReconciliationReport:
        """Read the three sources, compare them and store the report; each break keeps (or gets) one
        exception, and the entity-period's breaks not found any more are closed.

        `retrying`: the break exception a person retried (it is rechecked: closed or reopened).
        """
        if command.tolerance < 0:
            raise ValidationFailed(
                "tolerance must be zero or positive",
                errors=[ProblemFieldError(location="$.tolerance", message="must be >= 0")],
            )
        started = self.clock()
        number = int(await self.redis.incr("fig:flow:reconciliation:seq"))
        slot = ledger_id(command.legal_entity, command.period)
        report_id = f"{slot}-{number}"
        # Reruns of one entity-period are serialised: each sees the exceptions the previous one left.
        try:
            return await self._run(
                command,
                slot=slot,
                report_id=report_id,
                started=started,
                actor=actor,
                correlation_id=correlation_id,
                retrying=retrying,
                retry_note=retry_note,
            )
        except RunBusy:
            raise ReconciliationBusy(
                f"A reconciliation of {command.legal_entity} {command.period} is running; try again in a moment."
            ) from None

    async def _run(
        self,
        command: StartReconciliation,
        *,
        slot: str,
        report_id: str,
        started: datetime,
        actor: str,
        correlation_id: str | None,
        retrying: str | None,
        retry_note: str | None,
    ) -> ReconciliationReport:
        async with self.store.lease(
            slot, wait=self.lock_wait, also=[ledger_key(command.legal_entity, command.period)]
        ) as lease:
            raw_ledger = lease.also[0]
            ledger = _ledger_decoder.decode(raw_ledger) if raw_ledger is not None else BreakLedger()
            mapping, _ = await self.controls.current()
            regions = [r for r, e in mapping.regions.items() if e.legal_entity == command.legal_entity]
            opportunities = [o for region in regions for o in await self.crm.won_opportunities(command.period, region)]
            orders = [
                o for o in await self.erp.sales_orders(command.legal_entity, command.period)
                if o.booked and (o.external_id or "").startswith("SF-")
            ]  # fmt: skip
            read = await self.planning.committed_bookings(command.legal_entity, command.period)
            version = read.version
            reported = version is not None and version.published
            if version is not None and self.versions is not None:
                await self.versions.observe([version], observer=f"reconciliation:{report_id}")
            cells = read.items if reported else []

            crm = {o.id: o.amount.amount for o in opportunities}
            erp = {(o.external_id or "")[3:]: (o.id, o.total.amount) for o in orders}
            moved = await self._moved(command.period, crm, erp)
            by_order: dict[str, Decimal] = defaultdict(Decimal)
            for cell in cells:
                order_id = cell.booking_code.removeprefix("SO").rpartition("-")[0]
                by_order[order_id] += cell.amount.amount
            breaks = [
                msgspec.structs.replace(b, fingerprint=fingerprint(command.legal_entity, command.period, b.kind, b.key))
                for b in _compare(crm, erp, dict(by_order), command.tolerance, {m.opportunity_id for m in moved})
                if reported or b.kind not in PLANNING_BREAKS
            ]

            finished = self.clock()
            known = sorted({*ledger.open.values(), *([retrying] if retrying else [])})
            raws = await get_many(self.redis, [_exception_key(i) for i in known])
            existing = {i: _exception_decoder.decode(r) for i, r in zip(known, raws, strict=True) if r is not None}
            change = settle_breaks(
                ledger,
                [Found(fingerprint=b.fingerprint or "", detail=f"{b.kind}: {b.detail}", note=b.detail) for b in breaks],
                existing,
                new_exception=self._template(slot, command, actor, correlation_id, finished),
                report_id=report_id,
                tolerance=command.tolerance,
                actor=actor,
                now=finished,
                retrying=retrying,
                retry_note=retry_note,
                unchecked=frozenset() if reported else PLANNING_BREAKS,
            )
            breaks = [
                msgspec.structs.replace(b, exception_id=i) for b, i in zip(breaks, change.exception_ids, strict=True)
            ]
            currency = next(iter({o.amount.currency for o in opportunities} | {o.currency for o in orders}), None)
            report = ReconciliationReport(
                id=report_id,
                legal_entity=command.legal_entity,
                period=command.period,
                tolerance=command.tolerance,
                currency=currency,
                mapping_version=mapping.version,
                started_at=started,
                finished_at=finished,
                cycle_time_seconds=(finished - started).total_seconds(),
                crm_closed_won=SourceTotal(records=len(crm), amount=sum(crm.values(), Decimal("0"))),
                erp_booked=SourceTotal(records=len(erp), amount=sum((a for _, a in erp.values()), Decimal("0"))),
                planning_committed=SourceTotal(records=len(cells), amount=sum(by_order.values(), Decimal("0"))),
                breaks=breaks,
                status="breaks" if breaks else "balanced",
                planning_version=version,
                moved=moved,
                planning_reported=reported,
            )
            effects = [
                Effect(kind="zadd", key=EXCEPTION_INDEX, member=r.id, score=r.created_at.timestamp())
                for r in change.created
            ]
            effects += [
                counter("recon:runs"),
                counter("recon:cycle_ms", int(report.cycle_time_seconds * 1000)),
                counter(f"recon:breaks:{command.legal_entity}", len(change.created)),
                counter(f"recon:entity_runs:{command.legal_entity}"),
                counter(f"recon:entity_cycle_ms:{command.legal_entity}", int(report.cycle_time_seconds * 1000)),
            ]
            if not breaks:  # period end -> balanced: the reconciliation's (and the close's) last leg
                effects.append(daily("recon_balanced", command.legal_entity, finished))
                ms = since_period_end_ms(command.period, finished)
                effects.append(daily("recon_balanced_ms", command.legal_entity, finished, ms))
            writes = [
                (_report_key(report_id), _encoder.encode(report)),
                (ledger_key(command.legal_entity, command.period), _encoder.encode(change.ledger)),
            ]
            writes += [(_exception_key(r.id), _encoder.encode(r)) for r in change.written]
            await self.store.write(slot, lease, writes, effects)
        return report

    def _template(
        self, slot: str, command: StartReconciliation, actor: str, correlation_id: str | None, now: datetime
    ) -> ExceptionRecord:
        """What every break exception of this run says but its id, detail and history."""
        rule = self.policy.for_reason("reconciliation_break")
        return ExceptionRecord(
            id="",
            workflow="reconciliation",
            run_id=slot,
            reason_code="reconciliation_break",
            detail="",
            owner_team=rule.owner_team,
            severity=rule.severity,
            status="open",
            retry_policy=rule.retry,
            policy_version=self.policy.version,
            sla_due_at=self.policy.sla_due("reconciliation_break", now),
            created_at=now,
            updated_at=now,
            legal_entity=command.legal_entity,
            gate="compared",
            correlation_id=correlation_id,
        )


def _exception_key(exc_id: str) -> str:
    parsed = parse_exception_id(exc_id)
    assert parsed is not None  # ids come from exception_id()
    return exception_key(*parsed)


def _compare(
    crm: dict[str, Decimal],
    erp: dict[str, tuple[str, Decimal]],
    planning: dict[str, Decimal],
    tolerance: Decimal,
    moved: set[str],
) -> list[Break]:
    """The breaks between the three sides; a `moved` deal (posted in another period by decision) is
    not missing on the side of the other period."""
    breaks: list[Break] = []
    for opp, amount in sorted(crm.items()):
        if opp in moved:
            continue
        if opp not in erp:
            breaks.append(
                Break(
                    kind="missing_in_erp",
                    key=opp,
                    detail=f"closed-won {opp} has no booked ERP order",
                    crm_amount=amount,
                    difference=amount,
                )
            )
            continue
        order_id, booked = erp[opp]
        if abs(amount - booked) > tolerance:
            breaks.append(
                Break(
                    kind="amount_crm_erp",
                    key=opp,
                    detail=f"CRM {amount} vs ERP order {order_id} {booked}",
                    crm_amount=amount,
                    erp_amount=booked,
                    difference=amount - booked,
                )
            )
    for opp, (order_id, booked) in sorted(erp.items()):
        if opp not in crm and opp not in moved:
            breaks.append(
                Break(
                    kind="missing_in_crm",
                    key=opp,
                    detail=f"ERP order {order_id} has no closed-won {opp}",
                    erp_amount=booked,
                    difference=-booked,
                )
            )
        committed = planning.get(order_id)
        if committed is None:
            breaks.append(
                Break(
                    kind="missing_in_planning",
                    key=opp,
                    detail=f"booked ERP order {order_id} has no committed bookings in planning",
                    erp_amount=booked,
                    difference=booked,
                )
            )
        elif abs(booked - committed) > tolerance:
            breaks.append(
                Break(
                    kind="amount_erp_planning",
                    key=opp,
                    detail=f"ERP order {order_id} {booked} vs planning {committed}",
                    erp_amount=booked,
                    planning_amount=committed,
                    difference=booked - committed,
                )
            )
    known = {order_id for order_id, _ in erp.values()}
    for order_id, committed in sorted(planning.items()):
        if order_id not in known:
            breaks.append(
                Break(
                    kind="orphan_in_planning",
                    key=f"SO{order_id}",
                    detail=f"planning holds {committed} for order {order_id}, not booked in the ERP",
                    planning_amount=committed,
                    difference=-committed,
                )
            )
    return breaks
