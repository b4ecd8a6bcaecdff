"""The Salesforce connector against a running sandbox: sessions, paging, retries, limits, mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from contracts import Money
from servicekit.http import create_http_client
from system_apis.crm.connector import CrmReader, Keyset, SalesforceClient, SalesforceCredentials, SessionProvider
from system_apis.crm.errors import (
    SalesforceAuthError,
    SalesforceLimitExceeded,
    SalesforceNotFound,
    SalesforceProtocolError,
    SalesforceQueryError,
    SalesforceUnavailable,
    SalesforceUnreachable,
)
from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import BATCH, CLIENT_ID, CLIENT_SECRET, SandboxAdmin

ALL_OPPORTUNITIES = "SELECT Id FROM Opportunity ORDER BY Id"


async def test_session_is_obtained_once_and_reused(sandbox: str) -> None:
    token_calls = 0

    async def count(request: httpx.Request) -> None:
        nonlocal token_calls
        token_calls += request.url.path.endswith("/oauth2/token")

    http = create_http_client(sandbox)
    http.event_hooks["request"].append(count)
    credentials = SalesforceCredentials(login_url=sandbox, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    client = SalesforceClient(http, SessionProvider(http, credentials))
    try:
        for _ in range(3):
            await client.get_record("Account", "0018d00000DEMOAAAA", ["Name"])
    finally:
        await http.aclose()
    assert token_calls == 1
    assert client.limit_info == "api-usage=3/15000"


async def test_query_follows_next_records_url_until_done(sf_client: SalesforceClient) -> None:
    pages = [page async for page in sf_client.query_pages(ALL_OPPORTUNITIES)]
    ids = [r["Id"] for page in pages for r in page]
    assert len(pages) == -(-len(ids) // BATCH) > 5
    assert len(ids) == len(set(ids)) >= 202


async def test_expired_session_mid_paging_reauthenticates_once(
    sf_client: SalesforceClient, admin: SandboxAdmin
) -> None:
    first = await sf_client.query("SELECT Id FROM Account LIMIT 1")  # a session exists now
    assert first
    # The third page request finds every session expired; the connector re-authenticates and goes on.
    admin.fault("latency", path="/services/data/*/query/*", count=1)
    admin.fault("expire_sessions", path="/services/data/*/query/*", count=1)
    ids = [r["Id"] for r in await sf_client.query(ALL_OPPORTUNITIES)]
    assert len(ids) == len(set(ids)) >= 202
    assert admin.faults() == []


async def test_a_session_refused_twice_is_an_auth_error(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    admin.fault("status", status=401, error_code="INVALID_SESSION_ID", count=2)
    with pytest.raises(SalesforceAuthError) as raised:
        await sf_client.get_record("Account", "0018d00000DEMOAAAA")
    assert raised.value.error_code == "INVALID_SESSION_ID"


async def test_503_is_retried_with_backoff(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    admin.fault("status", status=503, count=2)
    record = await sf_client.get_record("Account", "0018d00000DEMOAAAA", ["Name"])
    assert record["Name"] == "Rheinwerk Analytics GmbH"
    admin.fault("status", status=503, count=10)
    with pytest.raises(SalesforceUnavailable) as raised:
        await sf_client.get_record("Account", "0018d00000DEMOAAAA")
    assert raised.value.error_code == "SERVER_UNAVAILABLE"


async def test_limit_exceeded_is_raised_at_once_not_retried(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    admin.fault("limit", count=3)
    with pytest.raises(SalesforceLimitExceeded) as raised:
        await sf_client.query("SELECT Id FROM Account")
    assert raised.value.status == 403
    assert raised.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert [f["remaining"] for f in admin.faults()] == [2]  # exactly one call was spent


async def test_vendor_errors_are_typed(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    with pytest.raises(SalesforceNotFound):
        await sf_client.get_record("Opportunity", "0068d00000NOPEAAAA")
    with pytest.raises(SalesforceQueryError) as raised:
        await sf_client.query("SELECT Nope FROM Opportunity")
    assert raised.value.error_code == "INVALID_FIELD"
    admin.fault("malformed")
    with pytest.raises(SalesforceProtocolError):
        await sf_client.query("SELECT Id FROM Account")


async def test_bad_credentials_and_unreachable_login(sandbox: str) -> None:
    async with create_http_client(sandbox) as http:
        credentials = SalesforceCredentials(login_url=sandbox, client_id=CLIENT_ID, client_secret="wrong")
        with pytest.raises(SalesforceAuthError) as raised:
            await SalesforceClient(http, SessionProvider(http, credentials)).query("SELECT Id FROM Account")
        assert raised.value.error_code == "invalid_client"
    nowhere = "http://127.0.0.1:9"
    async with create_http_client(nowhere, retries=0) as http:
        credentials = SalesforceCredentials(login_url=nowhere, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        with pytest.raises(SalesforceUnreachable):
            await SalesforceClient(http, SessionProvider(http, credentials)).query("SELECT Id FROM Account")


async def test_jwt_bearer_grant_with_a_configured_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "sf.key.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = tmp_path / "sf.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with running_server(create_app(SalesforceSandboxSettings(jwt_public_key_file=str(public)))) as base:
        async with create_http_client(base) as http:
            credentials = SalesforceCredentials(
                login_url=base, client_id=CLIENT_ID, username="integration@fig.dev", private_key_file=str(private)
            )
            sessions = SessionProvider(http, credentials)
            assert sessions.grant == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            record = await SalesforceClient(http, sessions).get_record("Account", "0018d00000DEMOAAAA", ["Name"])
            assert record["Name"] == "Rheinwerk Analytics GmbH"


async def test_reader_maps_to_canonical_with_decimal_money(reader: CrmReader) -> None:
    opportunity = await reader.opportunity("0068d00000DEMO1AAA")
    assert opportunity.amount == Money(amount=Decimal("14400.00"), currency="EUR")
    assert str(opportunity.amount.amount) == "14400.00"
    assert (opportunity.stage, opportunity.is_won, opportunity.approval_status) == (
        "Negotiation/Review",
        False,
        "pending",
    )
    assert (opportunity.region, opportunity.account_name) == ("DACH", "Rheinwerk Analytics GmbH")
    assert opportunity.close_date == date(2026, 11, 30)
    assert [
        (line.product_code, line.quantity, line.unit_price.amount, line.total.amount) for line in opportunity.lines
    ] == [
        ("FIG-PLAT", Decimal("10"), Decimal("1200.00"), Decimal("12000.00")),
        ("FIG-SUPP", Decimal("1"), Decimal("2400.00"), Decimal("2400.00")),
    ]
    won = await reader.opportunity("0068d00000DEMO2AAA")
    assert (won.is_won, won.approval_status, won.amount.currency) == (True, "approved", "GBP")
    account = await reader.account("0018d00000DEMOBAAA")
    assert (account.name, account.region, account.currency, account.billing_country) == (
        "Thames Data Ltd", "UKI", "GBP", "United Kingdom",
    )  # fmt: skip
    with pytest.raises(SalesforceNotFound):
        await reader.opportunity("0068d00000NOPEAAAA")
    with pytest.raises(SalesforceNotFound):
        await reader.opportunity("' OR Name != '")


async def test_changed_opportunities_walk_in_keyset_order(reader: CrmReader, admin: SandboxAdmin) -> None:
    seen: list[str] = []
    position = Keyset(datetime(2000, 1, 1, tzinfo=UTC))
    while True:
        changes = await reader.changed_opportunities(position, 40)
        if not changes:
            break
        seen += [c.opportunity.id for c in changes]
        position = changes[-1].position
    assert len(seen) == len(set(seen)) >= 202
    admin.close_won("0068d00000DEMO1AAA")
    [latest] = await reader.changed_opportunities(position, 40)
    assert latest.opportunity.id == "0068d00000DEMO1AAA"
    assert latest.opportunity.approval_status == "approved"


async def test_token_endpoint_failures_are_typed(sf_client: SalesforceClient, admin: SandboxAdmin) -> None:
    admin.fault("status", path="/services/oauth2/token", status=503)
    with pytest.raises(SalesforceUnavailable):
        await sf_client.query("SELECT Id FROM Account LIMIT 1")
    # The next token request succeeds: nothing was cached from the failed one.
    assert len(await sf_client.query("SELECT Id FROM Account LIMIT 1")) == 1
