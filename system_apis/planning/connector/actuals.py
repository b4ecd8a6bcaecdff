"""Canonical actuals <-> the Anaplan actuals module's file layout (import source and export).

The actuals module is dimensioned by version, entity, period, account and product; one CSV row
is one cell. Canonical lines without a product go to the product list's `no_product` item
(`UNALLOCATED` in the sandbox model) and come back as `product_code: null`; an empty
`product_code` counts as no product.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

from contracts import ActualsBatch, ActualsLine, Money
from system_apis.planning.connector.mapping import format_amount
from system_apis.planning.errors import PlanningProtocolError

__all__ = ["ACTUALS_HEADER", "actuals_csv", "parse_actuals_export"]

#: Column layout of the actuals import file and of the actuals export.
ACTUALS_HEADER = ("Version", "Entity", "Period", "Account", "Product", "Currency", "Amount")


def actuals_csv(batch: ActualsBatch, *, version: str, no_product: str) -> bytes:
    """The import file: header on line 1, `batch.lines[i]` on line i + 2."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ACTUALS_HEADER)
    writer.writerows(
        (
            version,
            batch.legal_entity,
            batch.period,
            line.account,
            line.product_code or no_product,
            line.amount.currency,
            format_amount(line.amount.amount),
        )
        for line in batch.lines
    )
    return buffer.getvalue().encode("utf-8")


def parse_actuals_export(
    content: bytes, *, version: str, legal_entity: str, period: str, no_product: str
) -> ActualsBatch | None:
    """The cells of one version, entity and period as an ActualsBatch; None when there are none.

    The batch currency is the cells' currency (the entity's reporting currency in the model);
    cells in more than one currency for one entity are a protocol error, not something to guess at.
    """
    try:
        rows = [r for r in csv.reader(io.StringIO(content.decode("utf-8-sig"), newline="")) if r]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise PlanningProtocolError(f"unreadable CSV from Anaplan: {exc}") from exc
    if not rows:
        return None
    if [h.strip().lower() for h in rows[0]] != [h.lower() for h in ACTUALS_HEADER]:
        raise PlanningProtocolError(f"the actuals export has columns {rows[0]}, expected {ACTUALS_HEADER}")
    lines: list[ActualsLine] = []
    currencies: set[str] = set()
    for row in rows[1:]:
        if len(row) != len(ACTUALS_HEADER):
            raise PlanningProtocolError(f"actuals export row with {len(row)} columns: {row}")
        row_version, entity, row_period, account, product, currency, amount = (v.strip() for v in row)
        if (row_version, entity, row_period) != (version, legal_entity, period):
            continue
        try:
            money = Money(amount=Decimal(amount), currency=currency)
            lines.append(
                ActualsLine(account=account, amount=money, product_code=None if product == no_product else product)
            )
        except (InvalidOperation, ValueError) as exc:
            raise PlanningProtocolError(f"unreadable actuals export row {row}: {exc}") from exc
        currencies.add(currency)
    if not lines:
        return None
    if len(currencies) != 1:
        raise PlanningProtocolError(
            f"actuals of {legal_entity} {period} in {sorted(currencies)}: expected one currency per entity"
        )
    return ActualsBatch(legal_entity=legal_entity, period=period, currency=currencies.pop(), lines=lines)
