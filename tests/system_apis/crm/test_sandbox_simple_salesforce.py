"""The Salesforce sandbox as simple-salesforce, a client integrators already use, sees it over HTTPS.

simple-salesforce logs in at a hard-coded `https://<domain>.salesforce.com` and then calls the
`instance_url` the token answer names, the sandbox itself. A requests transport adapter (requests'
own extension point) sends the login to the sandbox; everything after it goes there because the
sandbox said so. The session trusts only the local CA that signed the sandbox's certificate.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceResourceNotFound

from deploy.tls import local_tls
from system_apis.crm.sandbox import SalesforceSandboxSettings, create_app
from tests.support import running_server
from tests.system_apis.crm.support import CLIENT_ID, CLIENT_SECRET

USERNAME = "integration@fig.dev"
VERSION = "62.0"


def accounts(sf: Salesforce) -> SFType:
    """`sf.Account`, spelled so a type checker follows it (simple-salesforce resolves it dynamically)."""
    return SFType("Account", sf.session_id, sf.sf_instance, sf_version=VERSION, session=sf.session, salesforce=sf)


class ToSandbox(HTTPAdapter):
    """Sends a request for a Salesforce login host to the sandbox at `base` (same path and query)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(str(request.url))
        request.url = f"{self.base}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


class Org:
    def __init__(self, base: str, ca_bundle: Path, private_key: str) -> None:
        self.base = base
        self.ca_bundle = ca_bundle
        self.private_key = private_key

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment replaces `verify`
        session.verify = str(self.ca_bundle)
        for host in ("https://test.salesforce.com", "https://fig-dev.my.salesforce.com"):
            session.mount(host, ToSandbox(self.base))
        return session

    def client_credentials(self) -> Salesforce:
        return Salesforce(
            consumer_key=CLIENT_ID,
            consumer_secret=CLIENT_SECRET,
            domain="fig-dev.my",
            session=self.session(),
            version=VERSION,
        )

    def jwt_bearer(self) -> Salesforce:
        return Salesforce(
            username=USERNAME,
            consumer_key=CLIENT_ID,
            privatekey=self.private_key,
            domain="test",
            session=self.session(),
            version=VERSION,
        )


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Org]:
    """A sandbox of 400 opportunities over HTTPS whose connected app verifies JWT signatures."""
    directory = tmp_path_factory.mktemp("sf-https")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = directory / "connected-app.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    tls = local_tls(directory / "tls")
    settings = SalesforceSandboxSettings(scale=2, batch_size=200, jwt_public_key_file=str(public))
    with running_server(create_app(settings), tls=tls) as base:
        yield Org(base, tls.ca_bundle, private)


def test_both_server_to_server_logins_reach_the_sandbox_over_https(org: Org) -> None:
    for sf in (org.client_credentials(), org.jwt_bearer()):
        assert sf.sf_instance == org.base.removeprefix("https://")
        assert sf.base_url.startswith("https://127.0.0.1:")
        counted = sf.query("SELECT COUNT() FROM Account WHERE BillingCountry != null")
        assert counted["records"] == []
        listed = sf.query_all("SELECT Id FROM Account WHERE BillingCountry != null")["records"]
        assert counted["totalSize"] == len(listed) > 100
        used = sf.api_usage["api-usage"]  # parsed from Sforce-Limit-Info
        assert used.total == 15_000
        assert used.used >= 1


def test_a_jwt_signed_with_another_key_is_refused(org: Org) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = Org(org.base, org.ca_bundle, other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode())  # fmt: skip
    with pytest.raises(Exception, match="signature does not verify"):
        forged.jwt_bearer()


def test_query_and_query_all_page_through_every_record(org: Org) -> None:
    sf = org.client_credentials()
    total = sf.query("SELECT COUNT() FROM Opportunity")["totalSize"]
    assert 400 < total <= 600  # scale 2 (400 generated) and the demo deals: three pages of 200
    page = sf.query("SELECT Id, Name FROM Opportunity ORDER BY Id")
    assert (page["totalSize"], page["done"], len(page["records"])) == (total, False, 200)
    paged = list(page["records"])
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
        paged += page["records"]
    everything = sf.query_all("SELECT Id FROM Opportunity")
    ids = {r["Id"] for r in everything["records"]}
    assert (everything["totalSize"], len(ids)) == (total, total)
    assert [r["Id"] for r in paged] == sorted(ids)


def test_create_get_update_upsert_and_get_by_external_id(org: Org) -> None:
    sf = org.jwt_bearer()
    created = accounts(sf).create({"Name": "Harbour Analytics", "BillingCountry": "NO", "External_Id__c": "HB-1"})
    assert created["success"] is True
    account_id = created["id"]
    assert accounts(sf).get(account_id)["Name"] == "Harbour Analytics"
    assert accounts(sf).update(account_id, {"BillingCity": "Bergen"}) == 204
    by_external = accounts(sf).get_by_custom_id("External_Id__c", "HB-1")
    assert (by_external["Id"], by_external["BillingCity"]) == (account_id, "Bergen")
    assert accounts(sf).upsert("External_Id__c/HB-1", {"Industry": "Technology"}) == 200  # updated
    assert accounts(sf).get(account_id)["Industry"] == "Technology"
    assert accounts(sf).upsert("External_Id__c/HB-2", {"Name": "Fjord Freight"}) == 201  # created
    assert accounts(sf).get_by_custom_id("External_Id__c", "HB-2")["Name"] == "Fjord Freight"
    with pytest.raises(SalesforceResourceNotFound):
        accounts(sf).get_by_custom_id("External_Id__c", "HB-404")


def test_describe_an_object_and_the_org_and_read_its_limits(org: Org) -> None:
    sf = org.client_credentials()
    account = accounts(sf).describe()
    assert account["name"] == "Account"
    assert "External_Id__c" in {f["name"] for f in account["fields"] if f["externalId"]}
    described = sf.describe()
    assert described is not None
    objects = {o["name"]: o for o in described["sobjects"]}
    assert {"Account", "Opportunity"} <= set(objects)
    assert (objects["Account"]["keyPrefix"], objects["Account"]["createable"]) == ("001", True)
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15_000
    assert 0 <= limits["DailyApiRequests"]["Remaining"] < 15_000
