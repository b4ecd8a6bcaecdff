"""Reads over SuiteQL: accounting periods, posted GL actuals and the reference tables.

Each query has a unique ORDER BY and is read page by page (`NetSuiteClient.query_all`), so a
result larger than one SuiteQL page is neither cut nor repeated. Values that reach SuiteQL are
checked to be digits or `YYYY-MM` first; no caller text is ever spliced into a query.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any, Final

from contracts import AccountingPeriod, ActualsBatch, ActualsLine, LegalEntity, PeriodStatus
from system_apis.erp.connector.client import NetSuiteClient
from system_apis.erp.connector.mapping import (
    ENTITY_SUBSIDIARIES,
    SUBSIDIARY_ENTITIES,
    currency_code,
    money,
    parse_time,
)
from system_apis.erp.errors import ErpNotFound, ErpUpstreamError
from system_apis.erp.models import ErpCurrency, ErpItem, TaxCode

__all__ = [
    "PERIOD_COLUMNS",
    "accounting_periods",
    "actuals",
    "currencies",
    "items",
    "month_bounds",
    "period_from_row",
    "subsidiaries",
    "subsidiary_of",
    "tax_codes",
]

PERIOD_COLUMNS: Final = "id, subsidiary, periodname, startdate, enddate, closed, closedondate, lastmodifieddate"
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
#: Account types whose balance is a credit (revenue, liabilities, equity): reported as credit - debit.
_CREDIT_NORMAL: Final = frozenset({"Income", "OthIncome", "OtherIncome", "Equity", "OthCurrLiab", "LongTermLiab"})
_CATEGORIES: Final = ("subscription", "support", "services")


def subsidiary_of(legal_entity: str) -> str:
    """The NetSuite subsidiary id of a legal entity; ErpNotFound for an entity the ERP lacks."""
    subsidiary = ENTITY_SUBSIDIARIES.get(legal_entity)
    if subsidiary is None:
        raise ErpNotFound(f"The ERP has no legal entity {legal_entity}.")
    return subsidiary


def period_from_row(row: dict[str, Any]) -> AccountingPeriod:
    subsidiary = str(row["subsidiary"])
    entity = SUBSIDIARY_ENTITIES.get(subsidiary)
    if entity is None:
        raise ErpUpstreamError(f"Accounting period {row.get('id')} belongs to unmapped subsidiary {subsidiary}.")
    closed = str(row.get("closed")) == "T"
    return AccountingPeriod(
        legal_entity=entity,
        subsidiary_id=subsidiary,
        period=str(row["periodname"]),
        status="closed" if closed else "open",
        closed_at=parse_time(row.get("closedondate") or (row.get("lastmodifieddate") if closed else None)),
    )


async def accounting_periods(
    client: NetSuiteClient, *, legal_entity: str | None = None, status: PeriodStatus | None = None
) -> list[AccountingPeriod]:
    """Periods by entity and start date, optionally of one entity and/or one status."""
    where = []
    if legal_entity is not None:
        where.append(f"subsidiary = '{subsidiary_of(legal_entity)}'")
    if status is not None:
        where.append(f"closed = '{'T' if status == 'closed' else 'F'}'")
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    query = f"SELECT {PERIOD_COLUMNS} FROM accountingperiod{condition} ORDER BY subsidiary, startdate, id"  # noqa: S608 - digits and T/F only
    return [period_from_row(row) async for row in client.query_all(query)]


async def _period_id(client: NetSuiteClient, subsidiary: str, period: str) -> str:
    if not _PERIOD.match(period):
        raise ErpNotFound(f"{period!r} is not a period (YYYY-MM).")
    query = f"SELECT id FROM accountingperiod WHERE subsidiary = '{subsidiary}' AND periodname = '{period}' ORDER BY id"  # noqa: S608 - checked above
    page = await client.suiteql(query, limit=1)
    if not page.items:
        raise ErpNotFound(f"The ERP has no accounting period {period} for subsidiary {subsidiary}.")
    return str(page.items[0]["id"])


async def actuals(client: NetSuiteClient, legal_entity: str, period: str) -> ActualsBatch:
    """Posted GL actuals of one entity and period, summed per account and item.

    Credit-normal accounts (income) are reported as credit - debit, the rest as debit - credit, so
    revenue and expense both come out positive. `product_code` is the item's `itemId` when the
    line has an item.
    """
    subsidiary = subsidiary_of(legal_entity)
    period_id = await _period_id(client, subsidiary, period)
    currency = (await subsidiaries(client, subsidiary=subsidiary))[0].base_currency
    products = {item.id: item.product_code for item in await items(client)}
    query = (
        "SELECT transaction, transactionline, account, accounttype, debit, credit, item "  # noqa: S608 - digits only
        f"FROM transactionaccountingline WHERE posting = 'T' AND subsidiary = '{subsidiary}' "
        f"AND postingperiod = '{period_id}' ORDER BY transaction, transactionline"
    )
    totals: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    async for row in client.query_all(query):
        debit, credit = Decimal(str(row.get("debit") or 0)), Decimal(str(row.get("credit") or 0))
        net = credit - debit if row.get("accounttype") in _CREDIT_NORMAL else debit - credit
        item = row.get("item")
        totals[(str(row["account"]), str(item) if item is not None else None)] += net
    lines = [
        ActualsLine(account=account, amount=money(amount, currency), product_code=products.get(item) if item else None)
        for (account, item), amount in sorted(totals.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
    ]
    return ActualsBatch(legal_entity=legal_entity, period=period, currency=currency, lines=lines)


async def subsidiaries(client: NetSuiteClient, *, subsidiary: str | None = None) -> list[LegalEntity]:
    """The subsidiaries mapped to legal entities, as `LegalEntity` (unmapped ones are left out)."""
    condition = f" WHERE id = '{int(subsidiary)}'" if subsidiary is not None else ""
    query = f"SELECT id, name, country, currency FROM subsidiary{condition} ORDER BY id"  # noqa: S608 - an int only
    found = []
    async for row in client.query_all(query):
        entity = SUBSIDIARY_ENTITIES.get(str(row["id"]))
        if entity is not None:
            found.append(
                LegalEntity(
                    code=entity,
                    name=str(row["name"]),
                    country=str(row["country"]),
                    base_currency=currency_code(row["currency"]),
                    erp_subsidiary_id=str(row["id"]),
                )
            )
    if subsidiary is not None and not found:
        raise ErpNotFound(f"The ERP has no subsidiary {subsidiary}.")
    return found


async def items(client: NetSuiteClient) -> list[ErpItem]:
    query = "SELECT id, itemid, displayname, custitem_fig_revenue_category FROM item ORDER BY id"
    result = []
    async for row in client.query_all(query):
        category = row.get("custitem_fig_revenue_category")
        result.append(
            ErpItem(
                id=str(row["id"]),
                product_code=str(row["itemid"]),
                name=str(row.get("displayname") or row["itemid"]),
                revenue_category=category if category in _CATEGORIES else None,
            )
        )
    return result


async def currencies(client: NetSuiteClient) -> list[ErpCurrency]:
    rows = [row async for row in client.query_all("SELECT id, symbol, name FROM currency ORDER BY id")]
    return [ErpCurrency(id=str(r["id"]), code=str(r["symbol"]), name=str(r["name"])) for r in rows]


async def tax_codes(client: NetSuiteClient, *, legal_entity: str | None = None) -> list[TaxCode]:
    """The account's tax codes (of one entity), with the jurisdictions and item category they apply to."""
    condition = f" WHERE subsidiary = '{subsidiary_of(legal_entity)}'" if legal_entity is not None else ""
    query = (
        "SELECT id, itemid, description, rate, country, subsidiary, custitem_fig_tax_jurisdictions, "  # noqa: S608 - digits only
        f"custitem_fig_revenue_category FROM salestaxitem{condition} ORDER BY id"
    )
    return [
        TaxCode(
            id=str(r["id"]),
            code=str(r["itemid"]),
            description=str(r.get("description") or ""),
            rate=Decimal(str(r["rate"])),
            country=str(r["country"]),
            legal_entity=SUBSIDIARY_ENTITIES.get(str(r.get("subsidiary"))),
            jurisdictions=_listed(r.get("custitem_fig_tax_jurisdictions")),
            revenue_category=category if (category := r.get("custitem_fig_revenue_category")) in _CATEGORIES else None,
        )
        async for r in client.query_all(query)
    ]


def _listed(value: object) -> list[str]:
    """A comma-separated custom field (NetSuite free-form text) as its non-empty values."""
    return [part.strip() for part in str(value or "").split(",") if part.strip()]


def month_bounds(period: str) -> tuple[date, date]:
    """First and last day of a `YYYY-MM` period."""
    year, month = int(period[:4]), int(period[5:])
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
