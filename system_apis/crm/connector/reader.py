"""Canonical reads over the Salesforce client: one opportunity, changed opportunities (optionally
with their accounts) and accounts, filtered opportunities in Id order, one account.

Changed records are read in keyset order (SystemModstamp, Id): "after (m, i)" is
`(SystemModstamp = m AND Id > i) OR SystemModstamp > m`, one query.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import msgspec

from contracts import Account, Opportunity
from system_apis.crm.connector.client import SalesforceClient, soql_quote
from system_apis.crm.connector.mapping import (
    ACCOUNT_FIELDS,
    LINE_FIELDS,
    OPPORTUNITY_ACCOUNT_FIELDS,
    OPPORTUNITY_FIELDS,
    parse_sf_datetime,
    sf_datetime,
    to_account,
    to_opportunity,
)
from system_apis.crm.errors import SalesforceNotFound

__all__ = ["ChangedAccount", "ChangedOpportunity", "CrmReader", "Keyset", "is_salesforce_id"]

Record = dict[str, Any]
_ID: Final = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
#: Salesforce bounds a SOQL statement's length; 200 ids stay far below it.
_IN_CHUNK: Final = 200
# SOQL, not SQL: every value spliced into a statement goes through soql_quote or sf_datetime.
_SELECT_OPPORTUNITIES: Final = "SELECT " + ", ".join(OPPORTUNITY_FIELDS) + " FROM Opportunity"  # noqa: S608
_SELECT_OPPORTUNITIES_WITH_ACCOUNT: Final = (
    "SELECT " + ", ".join(OPPORTUNITY_FIELDS + OPPORTUNITY_ACCOUNT_FIELDS) + " FROM Opportunity"  # noqa: S608
)
_SELECT_ACCOUNTS: Final = "SELECT " + ", ".join(ACCOUNT_FIELDS) + " FROM Account"  # noqa: S608
_SELECT_LINES: Final = "SELECT " + ", ".join(LINE_FIELDS) + " FROM OpportunityLineItem"  # noqa: S608


class Keyset(msgspec.Struct, frozen=True):
    """A position in (SystemModstamp, Id) order: everything after it is 'changed since'."""

    modstamp: datetime
    record_id: str = ""


class ChangedOpportunity(msgspec.Struct, frozen=True):
    opportunity: Opportunity
    position: Keyset
    #: The opportunity's account as read in the same query (`with_account`).
    account: Account | None = None


class ChangedAccount(msgspec.Struct, frozen=True):
    account: Account
    position: Keyset


def _not_found(sobject: str, record_id: str) -> SalesforceNotFound:
    return SalesforceNotFound(404, "NOT_FOUND", f"{sobject} {record_id} does not exist")


class CrmReader:
    """Reads Salesforce and answers in the canonical model."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    async def _lines(self, opportunity_ids: Sequence[str]) -> dict[str, list[Record]]:
        lines: dict[str, list[Record]] = {i: [] for i in opportunity_ids}
        for start in range(0, len(opportunity_ids), _IN_CHUNK):
            chunk = opportunity_ids[start : start + _IN_CHUNK]
            ids = ", ".join(soql_quote(i) for i in chunk)
            soql = f"{_SELECT_LINES} WHERE OpportunityId IN ({ids}) ORDER BY OpportunityId, Id"
            for row in await self.client.query(soql):
                lines.setdefault(str(row.get("OpportunityId")), []).append(row)
        return lines

    async def _canonical(self, rows: list[Record]) -> list[Opportunity]:
        lines = await self._lines([str(r["Id"]) for r in rows])
        return [to_opportunity(r, lines.get(str(r["Id"]), [])) for r in rows]

    async def opportunity(self, opportunity_id: str) -> Opportunity:
        """One opportunity with its lines; SalesforceNotFound when it does not exist."""
        if not is_salesforce_id(opportunity_id):
            raise _not_found("Opportunity", opportunity_id)
        soql = f"{_SELECT_OPPORTUNITIES} WHERE Id = {soql_quote(opportunity_id)}"
        rows = await self.client.query(soql)
        if not rows:
            raise _not_found("Opportunity", opportunity_id)
        return (await self._canonical(rows))[0]

    async def account(self, account_id: str) -> Account:
        """One account (GET by id: Salesforce itself answers NOT_FOUND for an unknown id)."""
        if not is_salesforce_id(account_id):
            raise _not_found("Account", account_id)
        return to_account(await self.client.get_record("Account", account_id, ACCOUNT_FIELDS))

    async def _changed_rows(self, select: str, after: Keyset, limit: int, where: str) -> list[Record]:
        # One query per page, also when idle: each poll of a feed spends one call of the daily allocation.
        stamp = sf_datetime(after.modstamp)
        if after.record_id:
            position = (
                f"((SystemModstamp = {stamp} AND Id > {soql_quote(after.record_id)}) OR SystemModstamp > {stamp})"
            )
        else:
            position = f"SystemModstamp > {stamp}"
        extra = f" AND {where}" if where else ""
        return await self.client.query(f"{select} WHERE {position}{extra} ORDER BY SystemModstamp, Id LIMIT {limit}")

    async def changed_opportunities(
        self, after: Keyset, limit: int, *, where: str = "", with_account: bool = False
    ) -> list[ChangedOpportunity]:
        """Up to `limit` opportunities after `after` in (SystemModstamp, Id) order.

        `where` adds SOQL conditions joined with AND (e.g. `IsWon = true`). `with_account`: each
        opportunity's account is read in the same query, through the `Account` relationship.
        """
        select = _SELECT_OPPORTUNITIES_WITH_ACCOUNT if with_account else _SELECT_OPPORTUNITIES
        rows = await self._changed_rows(select, after, limit, where)
        opportunities = await self._canonical(rows)
        return [
            ChangedOpportunity(opp, _position(row), _parent_account(row) if with_account else None)
            for opp, row in zip(opportunities, rows, strict=True)
        ]

    async def changed_accounts(self, after: Keyset, limit: int) -> list[ChangedAccount]:
        """Up to `limit` accounts after `after` in (SystemModstamp, Id) order."""
        rows = await self._changed_rows(_SELECT_ACCOUNTS, after, limit, "")
        return [ChangedAccount(to_account(row), _position(row)) for row in rows]

    async def opportunities_by_id(self, where: str, after_id: str, limit: int) -> list[Opportunity]:
        """Up to `limit` opportunities matching `where` (SOQL conditions, may be empty) with Id > `after_id`,
        in Id order: a walk that neither skips nor repeats a record however records change meanwhile."""
        conditions = [c for c in (where, f"Id > {soql_quote(after_id)}" if after_id else "") if c]
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = await self.client.query(f"{_SELECT_OPPORTUNITIES}{clause} ORDER BY Id LIMIT {limit}")
        return await self._canonical(rows)


def _parent_account(row: Record) -> Account | None:
    parent = row.get("Account")
    return to_account(parent) if isinstance(parent, dict) and parent.get("Id") else None


def _position(row: Record) -> Keyset:
    return Keyset(parse_sf_datetime(str(row["SystemModstamp"])), str(row["Id"]))


def is_salesforce_id(value: str) -> bool:
    """A 15- or 18-character alphanumeric Salesforce id (so it is safe in a path or SOQL literal)."""
    return bool(_ID.match(value))
