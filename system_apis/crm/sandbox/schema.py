"""The emulated org's metadata: objects, their fields and types, and the opportunity stage table.

One source for describe, for write validation and for typing SOQL literals, so the three agree.
"""

from __future__ import annotations

from typing import Final

import msgspec

__all__ = [
    "APPROVAL_STATUSES",
    "CURRENCIES",
    "OBJECTS",
    "REGIONS",
    "RELATIONSHIPS",
    "STAGES",
    "STAGE_BY_NAME",
    "FieldDef",
    "Stage",
    "field_def",
    "key_prefix",
]


class FieldDef(msgspec.Struct, kw_only=True, frozen=True):
    """One field as describe reports it; `type` is a Salesforce field type name."""

    name: str
    type: str
    label: str
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    #: `inlineHelpText` in describe.
    help: str | None = None


class Stage(msgspec.Struct, kw_only=True, frozen=True):
    """A row of `OpportunityStage`: IsClosed/IsWon come from here, never from the label."""

    name: str
    probability: int
    is_closed: bool
    is_won: bool
    forecast_category: str


STAGES: Final[tuple[Stage, ...]] = (
    Stage(name="Prospecting", probability=10, is_closed=False, is_won=False, forecast_category="Pipeline"),
    Stage(name="Qualification", probability=10, is_closed=False, is_won=False, forecast_category="Pipeline"),
    Stage(name="Needs Analysis", probability=20, is_closed=False, is_won=False, forecast_category="Pipeline"),
    Stage(name="Value Proposition", probability=50, is_closed=False, is_won=False, forecast_category="Pipeline"),
    Stage(name="Proposal/Price Quote", probability=75, is_closed=False, is_won=False, forecast_category="Pipeline"),
    Stage(name="Negotiation/Review", probability=90, is_closed=False, is_won=False, forecast_category="Commit"),
    Stage(name="Closed Won", probability=100, is_closed=True, is_won=True, forecast_category="Closed"),
    Stage(name="Closed Lost", probability=0, is_closed=True, is_won=False, forecast_category="Omitted"),
)
STAGE_BY_NAME: Final = {s.name: s for s in STAGES}

APPROVAL_STATUSES: Final = ("Not Submitted", "Pending", "Approved", "Rejected")
REGIONS: Final = ("NA", "DACH", "UKI", "APAC")
CURRENCIES: Final = ("USD", "EUR", "GBP")

_SYSTEM = {"updateable": False, "createable": False}
_MIRROR = {"help": "Mirrored from the ERP by the integration; read-only for users."}


def _f(name: str, type_: str, label: str, **kw: object) -> FieldDef:
    return msgspec.convert({"name": name, "type": type_, "label": label, **kw}, FieldDef)


_COMMON: tuple[FieldDef, ...] = (
    _f("Id", "id", "Record ID", nillable=False, **_SYSTEM),
    _f("IsDeleted", "boolean", "Deleted", nillable=False, **_SYSTEM),
    _f("CreatedDate", "datetime", "Created Date", nillable=False, **_SYSTEM),
    _f("LastModifiedDate", "datetime", "Last Modified Date", nillable=False, **_SYSTEM),
    _f("SystemModstamp", "datetime", "System Modstamp", nillable=False, **_SYSTEM),
    _f("CurrencyIsoCode", "picklist", "Currency ISO Code", picklist=CURRENCIES),
)

OBJECTS: Final[dict[str, dict[str, FieldDef]]] = {
    "Account": {
        f.name: f
        for f in (
            *_COMMON,
            _f("Name", "string", "Account Name", nillable=False),
            _f("BillingCountry", "string", "Billing Country"),
            _f("BillingCity", "string", "Billing City"),
            _f("Industry", "picklist", "Industry", picklist=("Technology", "Manufacturing", "Finance", "Retail")),
            _f("Region__c", "picklist", "Region", picklist=REGIONS),
            _f("Billing_Email__c", "email", "Billing Email"),
            _f("External_Id__c", "string", "External Id", external_id=True),
            # Mirrors of the ERP-owned half of the customer master. Read-only for users (page layout
            # and field-level security); only the integration user writes them.
            _f("ERP_Customer_Id__c", "string", "ERP Customer Id", external_id=True, **_MIRROR),
            _f("ERP_Subsidiary_Id__c", "string", "ERP Subsidiary Id", **_MIRROR),
            _f("ERP_Currency__c", "picklist", "ERP Currency", picklist=CURRENCIES, **_MIRROR),
            _f("Payment_Terms__c", "string", "Payment Terms", **_MIRROR),
            _f("Credit_Limit__c", "currency", "Credit Limit", **_MIRROR),
            _f("Tax_Jurisdiction__c", "string", "Tax Jurisdiction", **_MIRROR),
            _f("OwnerId", "reference", "Owner ID", reference_to=("User",)),
        )
    },
    "Opportunity": {
        f.name: f
        for f in (
            *_COMMON,
            _f("Name", "string", "Name", nillable=False),
            _f("AccountId", "reference", "Account ID", reference_to=("Account",)),
            _f("StageName", "picklist", "Stage", nillable=False, picklist=tuple(s.name for s in STAGES)),
            _f("IsClosed", "boolean", "Closed", nillable=False, **_SYSTEM),
            _f("IsWon", "boolean", "Won", nillable=False, **_SYSTEM),
            _f("Probability", "percent", "Probability (%)"),
            _f("ForecastCategoryName", "picklist", "Forecast Category", **_SYSTEM),
            _f("Amount", "currency", "Amount"),
            _f("CloseDate", "date", "Close Date", nillable=False),
            _f("Approval_Status__c", "picklist", "Approval Status", picklist=APPROVAL_STATUSES),
            _f("Region__c", "picklist", "Region", picklist=REGIONS),
            _f("OwnerId", "reference", "Owner ID", reference_to=("User",)),
        )
    },
    "OpportunityLineItem": {
        f.name: f
        for f in (
            *_COMMON,
            _f("OpportunityId", "reference", "Opportunity ID", nillable=False, reference_to=("Opportunity",)),
            _f("Product2Id", "reference", "Product ID", reference_to=("Product2",)),
            _f("ProductCode", "string", "Product Code", **_SYSTEM),
            _f("Quantity", "double", "Quantity", nillable=False),
            _f("UnitPrice", "currency", "Sales Price"),
            _f("TotalPrice", "currency", "Total Price"),
        )
    },
    "Product2": {
        f.name: f
        for f in (
            *_COMMON,
            _f("Name", "string", "Product Name", nillable=False),
            _f("ProductCode", "string", "Product Code"),
        )
    },
}

#: Parent relationships usable in SOQL as `Relationship.Field`: name -> (lookup field, parent object).
RELATIONSHIPS: Final[dict[str, dict[str, tuple[str, str]]]] = {
    "Opportunity": {"Account": ("AccountId", "Account")},
    "OpportunityLineItem": {"Opportunity": ("OpportunityId", "Opportunity"), "Product2": ("Product2Id", "Product2")},
}

_PREFIXES: Final = {"Account": "001", "Opportunity": "006", "OpportunityLineItem": "00k", "Product2": "01t"}


def key_prefix(sobject: str) -> str:
    """The three-character id prefix of an object (001 Account, 006 Opportunity, ...)."""
    return _PREFIXES[sobject]


def field_def(sobject: str, name: str) -> FieldDef | None:
    """The field of `sobject` called `name`, case-insensitively as SOQL and the REST API treat names."""
    fields = OBJECTS.get(sobject, {})
    found = fields.get(name)
    if found is not None:
        return found
    lowered = name.lower()
    return next((f for f in fields.values() if f.name.lower() == lowered), None)
