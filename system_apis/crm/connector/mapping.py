"""Salesforce records to the canonical `contracts.Opportunity` / `contracts.Account`.

Money is Decimal to the cent (the connector parses vendor JSON numbers as Decimal, never float);
`Approval_Status__c` picklist values become the canonical approval statuses; lines come from
OpportunityLineItem with `Product2.ProductCode`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

from contracts import Account, ApprovalStatus, CustomerMasterChanges, Money, Opportunity, OpportunityLine
from system_apis.crm.errors import CrmMappingError

__all__ = [
    "ACCOUNT_FIELDS",
    "APPROVAL_STATUS",
    "CUSTOMER_MASTER_FIELDS",
    "LINE_FIELDS",
    "OPPORTUNITY_ACCOUNT_FIELDS",
    "OPPORTUNITY_FIELDS",
    "REGIONS",
    "REGION_ENTITY",
    "account_fields",
    "parse_sf_datetime",
    "sf_datetime",
    "to_account",
    "to_line",
    "to_opportunity",
]

Record = dict[str, Any]

OPPORTUNITY_FIELDS: Final = (
    "Id", "Name", "AccountId", "Account.Name", "StageName", "IsClosed", "IsWon", "Amount", "CurrencyIsoCode",
    "CloseDate", "Approval_Status__c", "Region__c", "OwnerId", "SystemModstamp",
)  # fmt: skip
LINE_FIELDS: Final = ("Id", "OpportunityId", "Product2.ProductCode", "Quantity", "UnitPrice", "TotalPrice")
ACCOUNT_FIELDS: Final = (
    "Id", "Name", "BillingCountry", "CurrencyIsoCode", "Region__c", "Industry", "Tax_Jurisdiction__c",
    "ERP_Customer_Id__c", "ERP_Currency__c", "SystemModstamp", "Billing_Email__c", "ERP_Subsidiary_Id__c",
    "Payment_Terms__c", "Credit_Limit__c",
)  # fmt: skip
#: The opportunity's account through the parent relationship (`Account.Name` is already selected).
OPPORTUNITY_ACCOUNT_FIELDS: Final = tuple(f"Account.{f}" for f in ACCOUNT_FIELDS if f != "Name")
#: Canonical customer-master field -> Salesforce Account field. CRM-owned fields are the Account's own;
#: ERP-owned ones land in custom mirror fields that users cannot edit (contracts.ownership decides who
#: may write which). `credit_limit` is Money: its amount goes to the currency field `Credit_Limit__c`.
CUSTOMER_MASTER_FIELDS: Final = {
    "name": "Name",
    "billing_country": "BillingCountry",
    "region": "Region__c",
    "industry": "Industry",
    "email": "Billing_Email__c",
    "subsidiary_id": "ERP_Subsidiary_Id__c",
    "currency": "ERP_Currency__c",
    "terms": "Payment_Terms__c",
    "credit_limit": "Credit_Limit__c",
    "tax_jurisdiction": "Tax_Jurisdiction__c",
    "erp_customer_id": "ERP_Customer_Id__c",
}

APPROVAL_STATUS: Final[dict[str | None, ApprovalStatus]] = {
    "Approved": "approved",
    "Pending": "pending",
    "Rejected": "rejected",
    "Not Submitted": "not_submitted",
    None: "not_submitted",
}
#: Salesforce Region__c -> legal entity (COMMON brief). APAC is deliberately unmapped.
REGION_ENTITY: Final = {"NA": "US01", "DACH": "DE01", "UKI": "GB01"}
#: The values of the `Region__c` picklist.
Region = Literal["NA", "DACH", "UKI", "APAC"]
REGIONS: Final[tuple[Region, ...]] = ("NA", "DACH", "UKI", "APAC")

_CENT = Decimal("0.01")


def parse_sf_datetime(text: str) -> datetime:
    """`2026-11-27T10:00:00.000+0000` (or ISO 8601 with `Z`/`+00:00`) as an aware UTC datetime."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    elif len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    parsed = datetime.fromisoformat(cleaned)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def sf_datetime(moment: datetime) -> str:
    """A SOQL datetime literal in UTC with milliseconds, e.g. `2026-11-27T10:00:00.000Z`."""
    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    # Not strftime("%Y"): glibc does not zero-pad years before 1000, which SOQL then refuses.
    return f"{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _decimal(record: Record, field: str, *, money: bool) -> Decimal:
    raw = record.get(field)
    if raw is None:
        return Decimal("0.00") if money else Decimal("0")
    if isinstance(raw, bool) or not isinstance(raw, int | Decimal | str):
        raise CrmMappingError(f"{field} is not a number: {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise CrmMappingError(f"{field} is not a number: {raw!r}") from None
    return value.quantize(_CENT) if money else value


def _text(record: Record, field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value:
        raise CrmMappingError(f"{record.get('attributes', {}).get('type', 'record')} lacks {field}")
    return value


def _parent_field(record: Record, relationship: str, field: str) -> Any:
    parent = record.get(relationship)
    return parent.get(field) if isinstance(parent, dict) else None


def to_line(record: Record, currency: str) -> OpportunityLine:
    code = _parent_field(record, "Product2", "ProductCode") or record.get("ProductCode")
    if not isinstance(code, str) or not code:
        raise CrmMappingError(f"OpportunityLineItem {record.get('Id')} has no product code")
    return OpportunityLine(
        product_code=code,
        quantity=_decimal(record, "Quantity", money=False),
        unit_price=Money(amount=_decimal(record, "UnitPrice", money=True), currency=currency),
        total=Money(amount=_decimal(record, "TotalPrice", money=True), currency=currency),
    )


def to_opportunity(record: Record, lines: list[Record], *, default_currency: str = "USD") -> Opportunity:
    """The canonical opportunity; `lines` are its OpportunityLineItem records (LINE_FIELDS)."""
    currency = record.get("CurrencyIsoCode") or default_currency
    approval = record.get("Approval_Status__c")
    if approval not in APPROVAL_STATUS:
        raise CrmMappingError(f"Opportunity {record.get('Id')} has an unknown Approval_Status__c {approval!r}")
    try:
        close_date = date.fromisoformat(_text(record, "CloseDate"))
        modified = parse_sf_datetime(_text(record, "SystemModstamp"))
    except ValueError as exc:
        raise CrmMappingError(f"Opportunity {record.get('Id')}: {exc}") from None
    return Opportunity(
        id=_text(record, "Id"),
        name=_text(record, "Name"),
        account_id=_text(record, "AccountId"),
        stage=_text(record, "StageName"),
        is_closed=bool(record.get("IsClosed")),
        is_won=bool(record.get("IsWon")),
        approval_status=APPROVAL_STATUS[approval],
        amount=Money(amount=_decimal(record, "Amount", money=True), currency=currency),
        close_date=close_date,
        last_modified=modified,
        account_name=_parent_field(record, "Account", "Name"),
        region=record.get("Region__c"),
        owner=record.get("OwnerId"),
        lines=[to_line(line, currency) for line in lines],
    )


def account_fields(changes: CustomerMasterChanges) -> Record:
    """The Salesforce Account fields a customer-master change writes (only the fields it sets)."""
    fields: Record = {}
    for name in changes.fields_set():
        value = getattr(changes, name)
        fields[CUSTOMER_MASTER_FIELDS[name]] = value.amount if isinstance(value, Money) else value
    return fields


def to_account(record: Record) -> Account:
    """The canonical account. `currency` is the ERP's customer currency once the sync mirrored it
    (`ERP_Currency__c`, ERP-owned), else the Account's record currency."""
    try:
        modified = parse_sf_datetime(_text(record, "SystemModstamp"))
    except ValueError as exc:
        raise CrmMappingError(f"Account {record.get('Id')}: {exc}") from None
    currency = record.get("ERP_Currency__c") or record.get("CurrencyIsoCode")
    credit_limit = None
    if record.get("Credit_Limit__c") is not None and currency:
        credit_limit = Money(amount=_decimal(record, "Credit_Limit__c", money=True), currency=currency)
    return Account(
        id=_text(record, "Id"),
        name=_text(record, "Name"),
        last_modified=modified,
        billing_country=record.get("BillingCountry"),
        currency=currency,
        email=record.get("Billing_Email__c"),
        subsidiary_id=record.get("ERP_Subsidiary_Id__c"),
        terms=record.get("Payment_Terms__c"),
        credit_limit=credit_limit,
        region=record.get("Region__c"),
        industry=record.get("Industry"),
        tax_jurisdiction=record.get("Tax_Jurisdiction__c"),
        erp_customer_id=record.get("ERP_Customer_Id__c"),
    )
