"""A running Salesforce sandbox (real HTTP) shared by the CRM tests, reset to its seed per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from servicekit.http import create_http_client
from system_apis.crm.connector import CrmReader, SalesforceClient, SalesforceCredentials, SessionProvider
from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import BATCH, CLIENT_ID, CLIENT_SECRET, SandboxAdmin, token_for
from tests.tokens import TestIssuer


@pytest.fixture(scope="session")
def issuer() -> Iterator[tuple[TestIssuer, str]]:
    """A token issuer serving its JWKS over HTTP, and its URL."""
    issuer = TestIssuer()
    with issuer.serve() as url:
        yield issuer, url


@pytest.fixture(scope="session")
def sandbox_base() -> Iterator[str]:
    with running_server(create_app(SalesforceSandboxSettings(batch_size=BATCH))) as base:
        yield base


@pytest.fixture
def sandbox(sandbox_base: str) -> str:
    """The sandbox's base URL, with the org back at its seed and no faults armed."""
    SandboxAdmin(sandbox_base).reset()
    return sandbox_base


@pytest.fixture
def admin(sandbox: str) -> SandboxAdmin:
    return SandboxAdmin(sandbox)


@pytest.fixture
def bearer(sandbox: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(sandbox)}"}


@pytest.fixture
async def sf_client(sandbox: str) -> AsyncIterator[SalesforceClient]:
    http = create_http_client(sandbox, retries=2)
    credentials = SalesforceCredentials(login_url=sandbox, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    yield SalesforceClient(http, SessionProvider(http, credentials))
    await http.aclose()


@pytest.fixture
def reader(sf_client: SalesforceClient) -> CrmReader:
    return CrmReader(sf_client)
