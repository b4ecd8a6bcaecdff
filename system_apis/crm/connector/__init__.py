"""The Salesforce connector: sessions, the REST client, SOQL paging and vendor <-> canonical mapping."""

from __future__ import annotations

from system_apis.crm.connector.auth import SalesforceCredentials, SalesforceSession, SessionProvider
from system_apis.crm.connector.client import SalesforceClient, UpsertResult, soql_quote
from system_apis.crm.connector.mapping import to_account, to_opportunity
from system_apis.crm.connector.reader import ChangedOpportunity, CrmReader, Keyset

__all__ = [
    "ChangedOpportunity",
    "CrmReader",
    "Keyset",
    "SalesforceClient",
    "SalesforceCredentials",
    "SalesforceSession",
    "SessionProvider",
    "UpsertResult",
    "soql_quote",
    "to_account",
    "to_opportunity",
]
