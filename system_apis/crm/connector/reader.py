"""Canonical reads over the Salesforce client: one opportunity, changed opportunities, one account.

Changed opportunities are read in keyset order (SystemModstamp, Id). The SOQL subset has no OR, so
"after (m, i)" is two queries: the rest of modstamp m after id i, then modstamps after m.
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
    OPPORTUNITY_FIELDS,
    parse_sf_datetime,
    sf_datetime,
    to_account,
    to_opportunity,
)
from system_apis.crm.errors import SalesforceNotFound

__all__ = ["ChangedOpportunity", "CrmReader", "Keyset"]

Record = dict[str, Any]
_ID: Final = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
#: Salesforce bounds a SOQL statement's length; 200 ids stay far below it.
_IN_CHUNK: Final = 200
# SOQL, not SQL: every value spliced into a statement goes through soql_quote or sf_datetime.
_SELECT_OPPORTUNITIES: Final = "SELECT " + ", ".join(OPPORTUNITY_FIELDS) + " FROM Opportunity"  # noqa: S608
_SELECT_LINES: Final = "SELECT " + ", ".join(LINE_FIELDS) + " FROM OpportunityLineItem"  # noqa: S608


class Keyset(msgspec.Struct, frozen=True):
    """A position in (SystemModstamp, Id) order: everything after it is 'changed since'."""

    modstamp: datetime
    record_id: str = ""


class ChangedOpportunity(msgspec.Struct, frozen=True):
    opportunity: Opportunity
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
        if not _ID.match(opportunity_id):
            raise _not_found("Opportunity", opportunity_id)
        soql = f"{_SELECT_OPPORTUNITIES} WHERE Id = {soql_quote(opportunity_id)}"
        rows = await self.client.query(soql)
        if not rows:
            raise _not_found("Opportunity", opportunity_id)
        return (await self._canonical(rows))[0]

    async def account(self, account_id: str) -> Account:
        """One account (GET by id: Salesforce itself answers NOT_FOUND for an unknown id)."""
        return to_account(await self.client.get_record("Account", account_id, ACCOUNT_FIELDS))

    async def changed_opportunities(self, after: Keyset, limit: int, *, where: str = "") -> list[ChangedOpportunity]:
        """Up to `limit` opportunities after `after` in (SystemModstamp, Id) order.

        `where` adds SOQL conditions joined with AND (e.g. `IsWon = true`).
        """
        extra = f" AND {where}" if where else ""
        select = _SELECT_OPPORTUNITIES
        stamp = sf_datetime(after.modstamp)
        rows: list[Record] = []
        if after.record_id:
            rows = await self.client.query(
                f"{select} WHERE SystemModstamp = {stamp} AND Id > {soql_quote(after.record_id)}{extra} "
                f"ORDER BY Id LIMIT {limit}"
            )
        if len(rows) < limit:
            rows += await self.client.query(
                f"{select} WHERE SystemModstamp > {stamp}{extra} ORDER BY SystemModstamp, Id LIMIT {limit - len(rows)}"
            )
        opportunities = await self._canonical(rows)
        return [
            ChangedOpportunity(opp, Keyset(parse_sf_datetime(str(row["SystemModstamp"])), str(row["Id"])))
            for opp, row in zip(opportunities, rows, strict=True)
        ]
