"""Reconciliation breaks across reruns: one exception per break, found by a stable fingerprint.

A break is identified by (legal entity, period, kind, key): its fingerprint. Every reconciliation
of one entity and period shares the slot `rec-<entity>-<period>`:

    fig:flow:{rec-<entity>-<period>}:ledger      the breaks the last run found, each with its exception
    fig:flow:{rec-<entity>-<period>}:report:<n>  the n-th report of the entity-period
    fig:exc:{rec-<entity>-<period>}:<seq>        the break exceptions

so a rerun commits its report, the ledger and every exception it opens, keeps or closes in one
script under the slot's lease (the lease people's actions on those exceptions take too). A rerun
that finds a break again keeps its exception, whatever its status (no second one: a break a
person resolved as accepted stays resolved while it lasts); one that no longer finds it closes the
exception (`auto_resolved`, with a note naming the report) and forgets the break, so a break that
comes back later opens a new exception. A retried break exception is rechecked by a rerun: it is
closed if the break is gone, reopened (`failed_again`) if not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import msgspec

from process_apis.exceptions.model import ExceptionAction, ExceptionRecord, exception_id

__all__ = [
    "BreakLedger",
    "LedgerChange",
    "fingerprint",
    "ledger_id",
    "ledger_key",
    "parse_ledger_id",
    "settle_breaks",
]

_UNSETTLED = frozenset({"open", "retrying", "dead_lettered"})
_LEDGER = re.compile(r"^rec-([A-Z]{2}[0-9]{2})-([0-9]{4}-(?:0[1-9]|1[0-2]))(?:-[0-9]+)?$")


def ledger_id(legal_entity: str, period: str) -> str:
    """The slot (and exception run id) of every reconciliation of one entity and period."""
    return f"rec-{legal_entity}-{period}"


def parse_ledger_id(value: str) -> tuple[str, str] | None:
    """(entity, period) of a ledger id, or of a report id `rec-<entity>-<period>-<n>`; None otherwise."""
    match = _LEDGER.match(value)
    return (match.group(1), match.group(2)) if match else None


def ledger_key(legal_entity: str, period: str) -> str:
    return f"fig:flow:{{{ledger_id(legal_entity, period)}}}:ledger"


def fingerprint(legal_entity: str, period: str, kind: str, key: str) -> str:
    """The stable identity of a break: the same difference found by any rerun has the same one."""
    return f"{legal_entity}/{period}/{kind}/{key}"


class BreakLedger(msgspec.Struct, kw_only=True, frozen=True):
    """The breaks the entity-period's last run found (fingerprint -> exception id), and its tolerance."""

    seq: int = 0
    open: dict[str, str] = msgspec.field(default_factory=dict)
    tolerance: Decimal | None = None
    last_report: str | None = None


@dataclass
class LedgerChange:
    """What one run commits: the new ledger, every exception written, and those created."""

    ledger: BreakLedger
    exception_ids: list[str]
    written: list[ExceptionRecord] = field(default_factory=list)
    created: list[ExceptionRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Found:
    """One break of this run: its fingerprint and what a new exception for it would say."""

    fingerprint: str
    detail: str
    note: str


def _kind(fingerprint_: str) -> str:
    """The kind of a fingerprint `<entity>/<period>/<kind>/<key>`."""
    return fingerprint_.split("/", 3)[2]


def settle_breaks(
    ledger: BreakLedger,
    found: Sequence[Found],
    existing: dict[str, ExceptionRecord],
    *,
    new_exception: ExceptionRecord,
    report_id: str,
    tolerance: Decimal,
    actor: str,
    now: datetime,
    retrying: str | None = None,
    retry_note: str | None = None,
    unchecked: frozenset[str] = frozenset(),
) -> LedgerChange:
    """Match this run's breaks to the ledger's exceptions (pure; the caller commits the result).

    `existing`: the ledger's exceptions by id as stored now. `new_exception` is the template of a
    break exception (owner, severity, SLA, entity); each new one gets the next sequence number.
    `retrying`: the id of the exception a person retried, whose retry this run is.
    `unchecked`: break kinds this run did not look for; their open breaks stay as they are.
    """
    run_id = new_exception.run_id
    seq = ledger.seq
    still_open: dict[str, str] = {}
    changed: dict[str, ExceptionRecord] = {}
    created: list[ExceptionRecord] = []
    ids: list[str] = []
    if retrying is not None and retrying in existing and existing[retrying].status in _UNSETTLED:
        note = f"{retry_note} (rechecked by {report_id})" if retry_note else f"rechecked by {report_id}"
        changed[retrying] = existing[retrying].act("retry", actor, now, "retrying", note=note)
    for item in found:
        known = ledger.open.get(item.fingerprint)
        record = changed.get(known or "") or existing.get(known or "")
        if known is not None and record is not None:
            if record.status == "retrying":
                changed[known] = record.act(
                    "failed_again", actor, now, "open", note=f"{report_id} still finds it", failures=record.failures + 1
                )
            still_open[item.fingerprint] = known
            ids.append(known)
            continue
        seq += 1
        new_id = exception_id(run_id, seq)
        opened = msgspec.structs.replace(
            new_exception,
            id=new_id,
            detail=item.detail,
            history=[ExceptionAction(action="opened", actor=actor, at=now, to_status="open", note=item.note)],
        )
        created.append(opened)
        changed[new_id] = opened
        still_open[item.fingerprint] = new_id
        ids.append(new_id)
    for fp, known in ledger.open.items():
        if fp in still_open:
            continue
        if _kind(fp) in unchecked:
            still_open[fp] = known
            continue
        record = changed.get(known) or existing.get(known)
        if record is not None and record.status in _UNSETTLED:
            changed[known] = record.act(
                "auto_resolved", actor, now, "resolved", note=f"reconciliation {report_id} found the break fixed"
            )
    new_ledger = BreakLedger(seq=seq, open=still_open, tolerance=tolerance, last_report=report_id)
    return LedgerChange(ledger=new_ledger, exception_ids=ids, written=list(changed.values()), created=created)
