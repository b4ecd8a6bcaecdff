"""The Salesforce connector: sessions, the REST client, SOQL paging and vendor <-> canonical mapping."""

from __future__ import annotations

from system_apis.crm.connector.auth import SalesforceCredentials, SalesforceSession, SessionProvider
from system_apis.crm.connector.client import SalesforceClient, UpsertResult, soql_quote
from system_apis.crm.connector.mapping import to_account, to_opportunity
from system_apis.crm.connector.reader import ChangedAccount, ChangedOpportunity, CrmReader, Keyset, is_salesforce_id
from system_apis.crm.connector.writer import CrmWriter

__all__ = [
    "ChangedAccount",
    "ChangedOpportunity",
    "CrmReader",
    "CrmWriter",
    "Keyset",
    "SalesforceClient",
    "SalesforceCredentials",
    "SalesforceSession",
    "SessionProvider",
    "UpsertResult",
    "is_salesforce_id",
    "soql_quote",
    "to_account",
    "to_opportunity",
]
