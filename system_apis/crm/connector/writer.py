"""Canonical writes over the Salesforce client: customer-master changes onto an Account.

Ownership (which origin may change which field) is decided before this layer, by the API. Here
the Account is read, only the fields whose values differ are sent as `PATCH /sobjects/Account/{id}`
(204), and the Account is read back in the same composite call (`POST /composite`, all or none: one
round trip and one API call for both), so the caller sees what Salesforce now holds. A change that
alters nothing writes nothing: Salesforce would still bump SystemModstamp, the account feed would
publish a change, and a two-way customer sync would echo it back and forth.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Final

from contracts import Account, CustomerMasterChanges
from system_apis.crm.connector.client import SalesforceClient
from system_apis.crm.connector.mapping import ACCOUNT_FIELDS, CUSTOMER_MASTER_FIELDS, account_fields, to_account
from system_apis.crm.connector.reader import is_salesforce_id
from system_apis.crm.errors import CrmValidationError, SalesforceNotFound, SalesforceValidationError

__all__ = ["CrmWriter"]

_CANONICAL: Final = {sf: canonical for canonical, sf in CUSTOMER_MASTER_FIELDS.items()}
_READ_FIELDS: Final = tuple(dict.fromkeys((*ACCOUNT_FIELDS, *CUSTOMER_MASTER_FIELDS.values())))


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(wanted, Decimal):
        # Salesforce answers currency fields as JSON numbers (parsed as Decimal); 1000 equals 1000.00.
        return isinstance(current, int | Decimal) and not isinstance(current, bool) and Decimal(current) == wanted
    return bool(current == wanted)


class CrmWriter:
    """Writes canonical changes to Salesforce and answers with the canonical record."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client

    async def _read(self, account_id: str) -> dict[str, Any]:
        return await self.client.get_record("Account", account_id, _READ_FIELDS)

    async def update_account(self, account_id: str, changes: CustomerMasterChanges) -> Account:
        """Apply `changes` (only the fields set, only where they differ) and return the Account as stored.

        Raises SalesforceNotFound for an unknown account and CrmValidationError when Salesforce (or
        the credit limit's currency) refuses the values; nothing is written then.
        """
        if not is_salesforce_id(account_id):
            raise SalesforceNotFound(404, "NOT_FOUND", f"Account {account_id} does not exist")
        current = await self._read(account_id)
        if changes.credit_limit is not None:
            # Salesforce keeps currency fields in one currency per record: the credit limit must be in
            # the customer's currency, the one this change sets or the one the account already has.
            currency = changes.currency or to_account(current).currency
            if changes.credit_limit.currency != currency:
                raise CrmValidationError(
                    f"the credit limit is in {changes.credit_limit.currency}, the customer's currency is {currency}",
                    [("$.changes.credit_limit.currency", f"must be the customer's currency {currency}")],
                    code="CURRENCY_MISMATCH",
                )
        fields = {k: v for k, v in account_fields(changes).items() if not _same(current.get(k), v)}
        if not fields:
            return to_account(current)
        try:
            stored = await self.client.update_and_get("Account", account_id, fields, _READ_FIELDS)
        except SalesforceValidationError as exc:
            named = [_CANONICAL.get(f, f) for f in exc.fields] or [_CANONICAL[f] for f in fields]
            raise CrmValidationError(
                f"Salesforce refused the change ({exc.error_code}): {exc.vendor_message}",
                [(f"$.changes.{name}", exc.vendor_message) for name in named],
                code=exc.error_code,
            ) from exc
        return to_account(stored)
