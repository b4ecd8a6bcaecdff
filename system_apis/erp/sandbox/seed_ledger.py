"""The seeded ledger side of the account: tax codes per subsidiary and posted GL lines.

Tax codes: US sales tax (CA 7.25 %, NY 4 %, TX 6.25 %, WA 6.5 %, exempt for IL and for professional
services in NY, export to SG), DE VAT 19 % / 7 % / EU reverse charge, GB VAT 20 % / 0 %. Each names the
jurisdictions it is the default for (the reduced, zero and reverse-charge codes are chosen by a
person, never by default) and, for NY services, the one item category it is limited to.
Postings: 2026-01..2026-10 in full and 2026-11 to date, per subsidiary, on revenue
accounts 4000/4100/4200 (items 101/102/103) and expense accounts 5000/6000/6100, amounts in the
subsidiary's currency.
"""

from __future__ import annotations

from copy import deepcopy
from decimal import Decimal

from system_apis.erp.sandbox.store import AccountState, PostingLine, TaxCode

__all__ = ["ACTUALS_MONTHS", "SUBSIDIARY_IDS", "backfill_state", "postings", "tax_codes"]

SUBSIDIARY_IDS = ("1", "2", "3")

_TAX_CODES = [
    TaxCode(
        id="11",
        item_id="US-SALES-CA",
        description="California sales tax",
        rate=Decimal("7.25"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-CA"],
    ),
    TaxCode(
        id="12",
        item_id="US-SALES-NY",
        description="New York sales tax",
        rate=Decimal("4.00"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-NY"],
    ),
    TaxCode(
        id="13",
        item_id="US-EXEMPT",
        description="Exempt (resale, SaaS-exempt states)",
        rate=Decimal("0.00"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-IL"],
    ),
    TaxCode(
        id="14",
        item_id="US-SALES-TX",
        description="Texas sales tax",
        rate=Decimal("6.25"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-TX"],
    ),
    TaxCode(
        id="15",
        item_id="US-SALES-WA",
        description="Washington sales tax",
        rate=Decimal("6.50"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-WA"],
    ),
    TaxCode(
        id="16",
        item_id="US-SERV-EXEMPT-NY",
        description="New York: professional services not taxable",
        rate=Decimal("0.00"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["US-NY"],
        revenue_category="services",
    ),
    TaxCode(
        id="17",
        item_id="US-EXPORT",
        description="Export sale, outside US sales tax",
        rate=Decimal("0.00"),
        country="US",
        subsidiary_id="1",
        jurisdictions=["SG"],
    ),
    TaxCode(
        id="21",
        item_id="DE-VAT-19",
        description="Umsatzsteuer 19 %",
        rate=Decimal("19.00"),
        country="DE",
        subsidiary_id="2",
        jurisdictions=["DE"],
    ),
    TaxCode(
        id="22",
        item_id="DE-VAT-7",
        description="Umsatzsteuer 7 % (ermäßigt)",
        rate=Decimal("7.00"),
        country="DE",
        subsidiary_id="2",
    ),
    TaxCode(
        id="23",
        item_id="DE-RC-EU",
        description="Reverse charge, EU B2B",
        rate=Decimal("0.00"),
        country="DE",
        subsidiary_id="2",
    ),
    TaxCode(
        id="31",
        item_id="GB-VAT-20",
        description="UK VAT standard rate 20 %",
        rate=Decimal("20.00"),
        country="GB",
        subsidiary_id="3",
        jurisdictions=["GB"],
    ),
    TaxCode(
        id="32",
        item_id="GB-VAT-0",
        description="UK VAT zero rate",
        rate=Decimal("0.00"),
        country="GB",
        subsidiary_id="3",
    ),
]
#: Monthly base amounts per subsidiary (its own currency) for seeded GL postings: revenue accounts
#: 4000/4100/4200 by item (101/102/103), expense accounts without an item.
_ACCOUNTS = [
    ("4000", "Income", "101"),
    ("4100", "Income", "102"),
    ("4200", "Income", "103"),
    ("5000", "COGS", None),
    ("6000", "Expense", None),
    ("6100", "Expense", None),
]
_BASE = {
    "1": {"4000": 180000, "4100": 42000, "4200": 26000, "5000": 51000, "6000": 97000, "6100": 23000},
    "2": {"4000": 96000, "4100": 21000, "4200": 14500, "5000": 28000, "6000": 61000, "6100": 9800},
    "3": {"4000": 64000, "4100": 15000, "4200": 9200, "5000": 19500, "6000": 40500, "6100": 7300},
}
ACTUALS_MONTHS = range(1, 12)
#: The open month 2026-11 holds postings to date: this share (percent) of a full month.
_MONTH_TO_DATE = {11: 80}


def postings() -> list[PostingLine]:
    """Posted lines for 2026-01..2026-11: per account an invoice/bill line and a small reversal line.

    Amounts grow 2 % a month and are exact Decimals (integer arithmetic, two decimals); the open
    month 2026-11 holds 80 % of a month (postings to date), 2026-12 nothing yet.
    """
    lines: list[PostingLine] = []
    transaction = 90000
    zero = Decimal("0.00")
    for sub_id in SUBSIDIARY_IDS:
        for month in ACTUALS_MONTHS:
            for account, kind, item in _ACCOUNTS:
                transaction += 1
                share = Decimal(_MONTH_TO_DATE.get(month, 100)) / 100
                gross = (Decimal(_BASE[sub_id][account]) * (100 + 2 * month) / 100 * share).quantize(Decimal("0.01"))
                reversal = (gross * Decimal(month % 3 + 1) / 100).quantize(Decimal("0.01"))
                income = kind == "Income"
                for line, amount, reverse in ((1, gross, False), (2, reversal, True)):
                    as_credit = income != reverse  # income is credited; its reversal (credit memo) debited
                    lines.append(
                        PostingLine(
                            transaction=str(transaction),
                            line=line,
                            subsidiary_id=sub_id,
                            period_id=f"{sub_id}{month:02d}",
                            account=account,
                            account_type=kind,
                            debit=zero if as_credit else amount,
                            credit=amount if as_credit else zero,
                            item_id=item,
                        )
                    )
    return lines


def tax_codes() -> dict[str, TaxCode]:
    return {t.id: deepcopy(t) for t in _TAX_CODES}


def backfill_state(state: AccountState) -> bool:
    """Add seeded reference data a state persisted by an older sandbox lacks; True if it changed."""
    changed = False
    if not state.tax_codes:
        state.tax_codes = tax_codes()
        changed = True
    elif not any(t.jurisdictions for t in state.tax_codes.values()):
        # Persisted before tax codes said where they apply: take the seeded codes' scope.
        for seeded in tax_codes().values():
            state.tax_codes.setdefault(seeded.id, seeded)
            code = state.tax_codes[seeded.id]
            code.jurisdictions, code.revenue_category = seeded.jurisdictions, seeded.revenue_category
        changed = True
    if not state.postings:
        state.postings = postings()
        changed = True
    return changed
