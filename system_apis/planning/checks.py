"""Business checks on an actuals load that the contract's types cannot express (422 problem+json)."""

from __future__ import annotations

from contracts import ActualsBatch, ProblemFieldError
from servicekit import Unprocessable

__all__ = ["check_actuals"]


def check_actuals(batch: ActualsBatch) -> None:
    """Refuse a batch the planning model could only load wrongly, before it reaches the platform.

    422 (`actuals-not-loadable`): the batch matches the contract; what it says cannot be loaded.

    - no lines: there is nothing to load (and Anaplan fails an import without data rows);
    - a line in another currency than the batch: the actuals module holds one reporting currency
      per entity, so such a line would be refused or, worse, mixed in;
    - two lines for one account and product: both would land in the same cell and the second
      would silently overwrite the first.
    """
    errors: list[ProblemFieldError] = []
    if not batch.lines:
        errors.append(ProblemFieldError(location="$.lines", message="at least one line is required"))
    first_at: dict[tuple[str, str | None], int] = {}
    for n, line in enumerate(batch.lines):
        if line.amount.currency != batch.currency:
            errors.append(
                ProblemFieldError(
                    location=f"$.lines[{n}].amount.currency",
                    message=f"{line.amount.currency} is not the batch currency {batch.currency}",
                )
            )
        # "" and null both mean "no product" in the model (see connector.actuals): one cell.
        key = (line.account, line.product_code or None)
        if key in first_at:
            errors.append(
                ProblemFieldError(
                    location=f"$.lines[{n}]",
                    message=f"account {line.account} and product {line.product_code} repeat line {first_at[key]}: "
                    "send one line per account and product",
                )
            )
        else:
            first_at[key] = n
    if errors:
        raise Unprocessable(
            "The actuals batch cannot be loaded as sent",
            slug="actuals-not-loadable",
            title="Actuals not loadable",
            errors=errors[:100],
        )
