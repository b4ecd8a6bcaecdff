"""The NetSuite connector against a running sandbox: auth, retries, governance, idempotent writes."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from contracts import CustomerUpsert, Money, SalesOrderLine, SalesOrderUpsert
from system_apis.erp.connector import NetSuiteClient, NetSuiteTokens, load_private_key
from system_apis.erp.connector.auth import TOKEN_PATH
from system_apis.erp.devkey import DEV_CLIENT_ID
from system_apis.erp.errors import ErpInvalidContent, ErpNotFound, ErpThrottled, ErpUpstreamError
from tests.system_apis.erp.conftest import admin, arm, make_client, stats


def _order(customer_id: str, item_id: str = "101") -> SalesOrderUpsert:
    return SalesOrderUpsert(
        customer_id=customer_id,
        subsidiary_id="2",
        currency="EUR",
        tran_date=date(2026, 11, 30),
        lines=[
            SalesOrderLine(
                item_id=item_id,
                quantity=Decimal("10"),
                unit_price=Money(amount=Decimal("1200.00"), currency="EUR"),
                amount=Money(amount=Decimal("12000.00"), currency="EUR"),
            )
        ],
        memo="Rheinwerk - Platform Expansion",
    )


async def _customer(netsuite: NetSuiteClient) -> str:
    customer, _ = await netsuite.upsert_customer(
        "SF-0018d00000DEMOAAAA",
        CustomerUpsert(name="Rheinwerk Analytics GmbH", subsidiary_id="2", currency="EUR"),
    )
    return customer.id


async def test_token_is_fetched_once_and_reused(sandbox: str, netsuite: NetSuiteClient) -> None:
    for _ in range(3):
        await netsuite.get_customer("1001")
    assert stats(sandbox)["token_grants"] == 1


async def test_reauthenticates_once_when_the_token_dies_mid_run(sandbox: str, netsuite: NetSuiteClient) -> None:
    await netsuite.get_customer("1001")
    await admin(sandbox, "POST", "/tokens/revoke")
    customer = await netsuite.get_customer("1002")
    assert customer.id == "1002"
    assert stats(sandbox)["token_grants"] == 2
    arm(sandbox, "GET */customer/1003", "expired_token")
    assert (await netsuite.get_customer("1003")).id == "1003"
    assert stats(sandbox)["token_grants"] == 3


async def test_throttling_is_retried_with_backoff_then_succeeds(sandbox: str, netsuite: NetSuiteClient) -> None:
    arm(sandbox, "GET */customer/1001", "throttle", count=3)
    customer = await netsuite.get_customer("1001")
    assert customer.id == "1001"
    assert stats(sandbox)["requests"] == 5  # token, three 429s, the success


async def test_persistent_throttling_gives_up_with_a_typed_error(sandbox: str) -> None:
    arm(sandbox, "GET */customer/1001", "throttle", count=50)
    async with httpx.AsyncClient(base_url=sandbox) as http:
        client = make_client(sandbox, http, throttle_retries=2)
        with pytest.raises(ErpThrottled):
            await client.get_customer("1001")


async def test_in_flight_requests_are_capped_by_the_semaphore(sandbox: str) -> None:
    arm(sandbox, "GET */customer/*", "latency", latency_ms=100, count=8)
    async with httpx.AsyncClient(base_url=sandbox) as http:
        client = make_client(sandbox, http, max_in_flight=2)
        await client.get_customer("1001")  # token first, so only record calls race below
        customers = await asyncio.gather(*(client.get_customer(str(1001 + n)) for n in range(6)))
    assert [c.id for c in customers] == [str(1001 + n) for n in range(6)]
    assert stats(sandbox)["max_in_flight_seen"] == 2


async def test_upserting_the_same_external_id_twice_keeps_one_order(sandbox: str, netsuite: NetSuiteClient) -> None:
    customer_id = await _customer(netsuite)
    first, created = await netsuite.upsert_sales_order("SF-0068d00000DEMO1AAA", _order(customer_id))
    second, created_again = await netsuite.upsert_sales_order("SF-0068d00000DEMO1AAA", _order(customer_id))
    assert (created, created_again) == (True, False)
    assert first.id == second.id
    assert first.status == "pending_approval"
    assert first.booked is False
    assert first.total == Money(amount=Decimal("12000.00"), currency="EUR")
    assert first.lines[0].item_id == "101"
    found = (await admin(sandbox, "GET", "/sales-orders", params={"externalId": "SF-0068d00000DEMO1AAA"})).json()
    assert [o["id"] for o in found["items"]] == [first.id]


async def test_every_order_write_is_an_upsert_by_external_id_so_retries_and_races_keep_one_order(sandbox: str) -> None:
    """The guarantee is the connector's own: it never creates an order (a POST, which the vendor
    would have to refuse as a duplicate), it upserts `eid:<external id>` every time."""
    writes: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        if request.method != "GET" and "/record/" in request.url.path:
            writes.append(request)

    async with httpx.AsyncClient(base_url=sandbox, event_hooks={"request": [record]}) as http:
        netsuite = make_client(sandbox, http)
        customer_id = await _customer(netsuite)
        writes.clear()
        external_id = "SF-0068d00000RACEAAAA"
        first, created = await netsuite.upsert_sales_order(external_id, _order(customer_id))
        retried, created_again = await netsuite.upsert_sales_order(external_id, _order(customer_id))
        # Two runs of the same deal at the same moment (both see no order yet).
        raced = await asyncio.gather(*(netsuite.upsert_sales_order(external_id, _order(customer_id)) for _ in range(2)))
    assert (created, created_again) == (True, False)
    assert {first.id, retried.id} | {order.id for order, _ in raced} == {first.id}
    assert [(w.method, w.url.path.rsplit("/", 2)[-2:]) for w in writes] == [
        ("PUT", ["salesOrder", f"eid:{external_id}"])
    ] * 4
    assert all(msgspec.json.decode(w.content)["externalId"] == external_id for w in writes)
    found = (await admin(sandbox, "GET", "/sales-orders", params={"externalId": external_id})).json()
    assert [o["id"] for o in found["items"]] == [first.id]


async def test_vendor_refusals_carry_error_code_path_and_canonical_field(netsuite: NetSuiteClient) -> None:
    customer_id = await _customer(netsuite)
    with pytest.raises(ErpInvalidContent) as refused:
        await netsuite.upsert_sales_order("SF-BADITEM", _order(customer_id, item_id="999"))
    assert refused.value.code == "INVALID_CONTENT"
    assert refused.value.path == "item.items[0].item"
    assert refused.value.field == "lines[0].item_id"
    with pytest.raises(ErpInvalidContent) as unknown_customer:
        await netsuite.upsert_sales_order("SF-BADCUST", _order("999999"))
    assert unknown_customer.value.field == "customer_id"
    with pytest.raises(ErpNotFound):
        await netsuite.get_sales_order("424242")


async def test_malformed_vendor_body_is_an_upstream_error(sandbox: str, netsuite: NetSuiteClient) -> None:
    arm(sandbox, "GET */customer/1001", "malformed")
    with pytest.raises(ErpUpstreamError):
        await netsuite.get_customer("1001")


async def test_suiteql_paging_walks_every_row_once(netsuite: NetSuiteClient) -> None:
    query = "SELECT id, lastmodifieddate FROM transaction WHERE type = 'SalesOrd' ORDER BY lastmodifieddate, id"
    rows = [row async for row in netsuite.query_all(query, page_size=5)]
    assert len(rows) == 12
    assert len({r["id"] for r in rows}) == 12


async def test_sales_orders_list_by_status_with_keyset_paging(netsuite: NetSuiteClient) -> None:
    first, more = await netsuite.list_sales_orders(status_codes=["B"], limit=2)
    assert more is True
    assert all(o.status_code == "B" and o.booked for o in first)
    rest, _ = await netsuite.list_sales_orders(status_codes=["B"], after_id=int(first[-1].id), limit=50)
    ids = [o.id for o in first + rest]
    assert ids == sorted(ids, key=int)
    assert len(ids) == len(set(ids))


async def test_ps256_key_from_a_pem_file(sandbox: str, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "netsuite-m2m.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    await admin(
        sandbox,
        "POST",
        "/certificates",
        json={"kid": "rsa-cert", "client_id": DEV_CLIENT_ID, "public_key_pem": public.decode()},
    )
    async with httpx.AsyncClient(base_url=sandbox) as http:
        tokens = NetSuiteTokens(
            http,
            token_url=sandbox + TOKEN_PATH,
            client_id=DEV_CLIENT_ID,
            key_id="rsa-cert",
            key=load_private_key(str(path)),
            algorithm="PS256",
        )
        client = NetSuiteClient(http, tokens)
        assert (await client.get_customer("1001")).id == "1001"
    assert tokens.grants == 1


async def test_listed_orders_equal_the_records_read_one_by_one(sandbox: str, netsuite: NetSuiteClient) -> None:
    customer_id = await _customer(netsuite)
    await netsuite.upsert_sales_order("SF-0068d00000DEMO1AAA", _order(customer_id))
    listed, more = await netsuite.list_sales_orders(limit=200)
    assert more is False
    assert len(listed) == 13
    before = stats(sandbox)["requests"]
    one_by_one = [await netsuite.get_sales_order(o.id) for o in listed]
    assert listed == one_by_one
    assert stats(sandbox)["requests"] - before == 13  # while the list itself took two SuiteQL calls


async def test_a_customer_upsert_that_changes_nothing_writes_nothing(sandbox: str, netsuite: NetSuiteClient) -> None:
    command = CustomerUpsert(name="Rheinwerk Analytics GmbH", subsidiary_id="2", currency="EUR")
    first, created = await netsuite.upsert_customer("SF-0018d00000NOOPAAAA", command)
    before = stats(sandbox)["requests"]
    again, created_again = await netsuite.upsert_customer("SF-0018d00000NOOPAAAA", command)
    assert stats(sandbox)["requests"] - before == 1  # the read; no write, no read-back
    assert (created, created_again) == (True, False)
    assert again == first  # same record, same lastModifiedDate: no change event for a no-op
    renamed, created_renamed = await netsuite.upsert_customer(
        "SF-0018d00000NOOPAAAA", CustomerUpsert(name="Rheinwerk AG", subsidiary_id="2", currency="EUR")
    )
    assert (renamed.id, renamed.name, created_renamed) == (first.id, "Rheinwerk AG", False)


async def test_a_customer_upsert_writes_the_crm_fields_it_carries(sandbox: str, netsuite: NetSuiteClient) -> None:
    command = CustomerUpsert(
        name="Nordlicht Energie GmbH",
        subsidiary_id="2",
        currency="EUR",
        region="DACH",
        industry="Energy",
        billing_country="Germany",
    )
    created, is_new = await netsuite.upsert_customer("SF-0018d00000CRMFAAAA", command)
    assert is_new
    assert (created.region, created.industry, created.billing_country) == ("DACH", "Energy", "Germany")
    stored = await netsuite.get_customer("eid:SF-0018d00000CRMFAAAA")
    assert (stored.region, stored.industry, stored.billing_country) == ("DACH", "Energy", "Germany")
    # They are initial values: an existing customer keeps its own (the customer-master sync owns
    # them), whether an upsert carries none or other ones (from an older view of the account).
    plain = CustomerUpsert(name="Nordlicht Energie GmbH", subsidiary_id="2", currency="EUR")
    again, _ = await netsuite.upsert_customer("SF-0018d00000CRMFAAAA", plain)
    assert (again.region, again.industry, again.billing_country) == ("DACH", "Energy", "Germany")
    before = stats(sandbox)["requests"]
    older = msgspec.structs.replace(command, industry="Utilities")
    kept, _ = await netsuite.upsert_customer("SF-0018d00000CRMFAAAA", older)
    assert kept.industry == "Energy"
    assert stats(sandbox)["requests"] - before == 1  # nothing else differs: the read, no write
