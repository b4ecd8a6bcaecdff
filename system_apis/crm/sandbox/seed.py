"""A deterministic org: the brief's demo records plus generated accounts, opportunities and lines.

The same `seed` and `scale` always give the same records (a seeded `random.Random`, fixed base
time), so tests and demos can name ids and amounts. Per unit of `scale`: 50 accounts, 200
opportunities; each opportunity has 1-3 line items whose totals sum to its Amount.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from system_apis.crm.sandbox.schema import OBJECTS, STAGE_BY_NAME, STAGES
from system_apis.crm.sandbox.store import format_datetime, make_id

__all__ = ["DEMO_ACCOUNT_IDS", "DEMO_OPPORTUNITY_IDS", "PRODUCTS", "SEED_BASE_TIME", "seed_tables"]

Record = dict[str, Any]
Tables = dict[str, dict[str, Record]]

#: Every generated timestamp lies before this instant, so a feed started later sees none as new.
SEED_BASE_TIME: Final = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
DEMO_ACCOUNT_IDS: Final = ("0018d00000DEMOAAAA", "0018d00000DEMOBAAA")
DEMO_OPPORTUNITY_IDS: Final = ("0068d00000DEMO1AAA", "0068d00000DEMO2AAA")
OWNER_ID: Final = "0058d00000FIGUSRAA"

#: Product2 records: (id, code, name, unit price range, quantity range).
PRODUCTS: Final = (
    ("01t8d00000PLATAAA0", "FIG-PLAT", "FIG Platform Subscription", (800, 2500), (1, 40)),
    ("01t8d00000SUPPAAA0", "FIG-SUPP", "FIG Premium Support", (500, 3000), (1, 3)),
    ("01t8d00000SERVAAA0", "FIG-SERV", "FIG Professional Services", (150, 250), (5, 40)),
)
_PRODUCT_BY_CODE: Final = {p[1]: p for p in PRODUCTS}

_REGIONS: Final = {
    "NA": (
        ("United States", "USD", ("New York", "Austin", "Chicago", "Seattle")),
        ("US-NY", "US-TX", "US-IL", "US-WA"),
    ),
    "DACH": (("Germany", "EUR", ("Berlin", "Munich", "Hamburg", "Cologne")), ("DE",)),
    "UKI": (("United Kingdom", "GBP", ("London", "Manchester", "Leeds", "Bristol")), ("GB",)),
    "APAC": (("Singapore", "USD", ("Singapore",)), ("SG",)),
}
_NAMES_A: Final = ("Northwind", "Blue Ridge", "Harbor", "Summit", "Vertex", "Lumen", "Granite", "Cobalt", "Aurora")
_NAMES_B: Final = ("Analytics", "Systems", "Logistics", "Health", "Foods", "Energy", "Robotics", "Media", "Capital")
_SUFFIX: Final = {"NA": "Inc.", "DACH": "GmbH", "UKI": "Ltd", "APAC": "Pte. Ltd."}
_INDUSTRIES: Final = ("Technology", "Manufacturing", "Finance", "Retail")


def _blank(sobject: str) -> Record:
    return dict.fromkeys(OBJECTS[sobject])


def _stamp(moment: datetime) -> str:
    return format_datetime(moment)


def _account(record_id: str, name: str, region: str, country: str, currency: str, **extra: Any) -> Record:
    record = _blank("Account")
    record.update(
        Id=record_id,
        IsDeleted=False,
        Name=name,
        Region__c=region,
        BillingCountry=country,
        CurrencyIsoCode=currency,
        OwnerId=OWNER_ID,
        **extra,
    )
    return record


def _opportunity(record_id: str, stage: str, **fields: Any) -> Record:
    flags = STAGE_BY_NAME[stage]
    record = _blank("Opportunity")
    record.update(
        Id=record_id,
        IsDeleted=False,
        StageName=stage,
        IsClosed=flags.is_closed,
        IsWon=flags.is_won,
        Probability=Decimal(flags.probability),
        ForecastCategoryName=flags.forecast_category,
        OwnerId=OWNER_ID,
        **fields,
    )
    return record


def _line(record_id: str, opportunity: Record, code: str, quantity: int, unit_price: Decimal) -> Record:
    product = _PRODUCT_BY_CODE[code]
    record = _blank("OpportunityLineItem")
    record.update(
        Id=record_id,
        IsDeleted=False,
        OpportunityId=opportunity["Id"],
        Product2Id=product[0],
        ProductCode=code,
        Quantity=Decimal(quantity),
        UnitPrice=unit_price,
        TotalPrice=(unit_price * quantity).quantize(Decimal("0.01")),
        CurrencyIsoCode=opportunity["CurrencyIsoCode"],
        CreatedDate=opportunity["CreatedDate"],
        LastModifiedDate=opportunity["LastModifiedDate"],
        SystemModstamp=opportunity["SystemModstamp"],
    )
    return record


def _stamps(record: Record, created: datetime, modified: datetime) -> None:
    record.update(CreatedDate=_stamp(created), LastModifiedDate=_stamp(modified), SystemModstamp=_stamp(modified))


def _demo(tables: Tables) -> None:
    created, modified = SEED_BASE_TIME - timedelta(days=40), SEED_BASE_TIME - timedelta(days=2)
    rheinwerk = _account(
        DEMO_ACCOUNT_IDS[0], "Rheinwerk Analytics GmbH", "DACH", "Germany", "EUR",
        BillingCity="Cologne", Industry="Technology", Tax_Jurisdiction__c="DE",
    )  # fmt: skip
    thames = _account(
        DEMO_ACCOUNT_IDS[1], "Thames Data Ltd", "UKI", "United Kingdom", "GBP",
        BillingCity="London", Industry="Technology", Tax_Jurisdiction__c="GB",
    )  # fmt: skip
    demo1 = _opportunity(
        DEMO_OPPORTUNITY_IDS[0], "Negotiation/Review", Name="Rheinwerk - Platform Expansion",
        AccountId=rheinwerk["Id"], Approval_Status__c="Pending", Region__c="DACH", CurrencyIsoCode="EUR",
        CloseDate="2026-11-30", Amount=Decimal("14400.00"),
    )  # fmt: skip
    demo2 = _opportunity(
        DEMO_OPPORTUNITY_IDS[1], "Closed Won", Name="Thames Data - Support Renewal",
        AccountId=thames["Id"], Approval_Status__c="Approved", Region__c="UKI", CurrencyIsoCode="GBP",
        CloseDate="2026-11-20", Amount=Decimal("3000.00"),
    )  # fmt: skip
    for record in (rheinwerk, thames, demo1, demo2):
        _stamps(record, created, modified)
    lines = (
        _line("00k8d00000DEMO1AAA", demo1, "FIG-PLAT", 10, Decimal("1200.00")),
        _line("00k8d00000DEMO2AAA", demo1, "FIG-SUPP", 1, Decimal("2400.00")),
        _line("00k8d00000DEMO3AAA", demo2, "FIG-SUPP", 2, Decimal("1500.00")),
    )
    for record in (rheinwerk, thames):
        tables["Account"][record["Id"]] = record
    for record in (demo1, demo2):
        tables["Opportunity"][record["Id"]] = record
    for record in lines:
        tables["OpportunityLineItem"][record["Id"]] = record


def _products(tables: Tables) -> None:
    created = SEED_BASE_TIME - timedelta(days=400)
    for product_id, code, name, *_ in PRODUCTS:
        record = _blank("Product2")
        record.update(Id=product_id, IsDeleted=False, Name=name, ProductCode=code, CurrencyIsoCode="USD")
        _stamps(record, created, created)
        tables["Product2"][product_id] = record


def _approval_for(rng: random.Random, stage: str) -> str:
    if stage == "Closed Won":
        return rng.choices(("Approved", "Pending", "Not Submitted"), (8, 1, 1))[0]
    if stage == "Closed Lost":
        return rng.choice(("Not Submitted", "Rejected"))
    if stage in ("Negotiation/Review", "Proposal/Price Quote"):
        return rng.choice(("Pending", "Not Submitted", "Rejected"))
    return "Not Submitted"


def seed_tables(seed: int = 20261127, scale: int = 1) -> Tables:
    """Build the org's tables; ids count up from 1 so generated ids never collide with demo ids."""
    rng = random.Random(seed)  # noqa: S311 - deterministic test data, not security
    tables: Tables = {name: {} for name in OBJECTS}
    _products(tables)
    _demo(tables)
    counter = 0

    def next_id(prefix: str) -> str:
        nonlocal counter
        counter += 1
        return make_id(prefix, counter)

    accounts: list[Record] = []
    regions = ("NA",) * 8 + ("DACH",) * 5 + ("UKI",) * 5
    for index in range(50 * scale):
        region = "APAC" if index % 17 == 16 else rng.choice(regions)
        (country, currency, cities), jurisdictions = _REGIONS[region]
        name = f"{rng.choice(_NAMES_A)} {rng.choice(_NAMES_B)} {index + 1} {_SUFFIX[region]}"
        record = _account(
            next_id("001"), name, region, country, currency,
            BillingCity=rng.choice(cities), Industry=rng.choice(_INDUSTRIES),
            Tax_Jurisdiction__c=rng.choice(jurisdictions),
        )  # fmt: skip
        created = SEED_BASE_TIME - timedelta(days=rng.randint(60, 700))
        _stamps(record, created, created + timedelta(minutes=rng.randint(0, 60 * 24 * 50)))
        tables["Account"][record["Id"]] = record
        accounts.append(record)

    stage_weights = (3, 3, 2, 2, 2, 3, 6, 3)
    for index in range(200 * scale):
        account = rng.choice(accounts)
        stage = rng.choices([s.name for s in STAGES], stage_weights)[0]
        close = date(2026, 1, 15) + timedelta(days=rng.randint(0, 540))
        created = SEED_BASE_TIME - timedelta(days=rng.randint(20, 400), seconds=rng.randint(0, 86_399))
        modified = min(created + timedelta(days=rng.randint(0, 19), seconds=rng.randint(0, 86_399)), SEED_BASE_TIME)
        opportunity = _opportunity(
            next_id("006"), stage, Name=f"{account['Name'].split(' ')[0]} - Deal {index + 1}",
            AccountId=account["Id"], Approval_Status__c=_approval_for(rng, stage), Region__c=account["Region__c"],
            CurrencyIsoCode=account["CurrencyIsoCode"], CloseDate=close.isoformat(),
        )  # fmt: skip
        _stamps(opportunity, created, modified)
        codes = rng.sample([p[1] for p in PRODUCTS], rng.randint(1, 3))
        total = Decimal("0.00")
        for code in codes:
            _, _, _, (low, high), (qlow, qhigh) = _PRODUCT_BY_CODE[code]
            price = Decimal(rng.randint(low, high) * 10) / 10
            line = _line(next_id("00k"), opportunity, code, rng.randint(qlow, qhigh), price.quantize(Decimal("0.01")))
            total += line["TotalPrice"]
            tables["OpportunityLineItem"][line["Id"]] = line
        opportunity["Amount"] = total
        tables["Opportunity"][opportunity["Id"]] = opportunity
    return tables
