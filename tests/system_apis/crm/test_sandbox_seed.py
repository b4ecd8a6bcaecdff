"""The seeded org is deterministic, consistent, and holds the brief's demo records exactly."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

from system_apis.crm.sandbox.seed import seed_tables

REGION_CURRENCY = {"NA": "USD", "DACH": "EUR", "UKI": "GBP"}


def test_seed_is_deterministic_and_has_the_volumes() -> None:
    tables = seed_tables()
    assert tables == seed_tables()
    assert tables != seed_tables(seed=1)
    assert len(tables["Account"]) >= 50
    assert len(tables["Opportunity"]) >= 200
    for sobject, prefix in (("Account", "001"), ("Opportunity", "006"), ("OpportunityLineItem", "00k")):
        assert all(len(i) == 18 and i.startswith(prefix) for i in tables[sobject])


def test_seeded_records_are_consistent() -> None:
    tables = seed_tables()
    accounts = tables["Account"]
    lines = defaultdict(list)
    for line in tables["OpportunityLineItem"].values():
        lines[line["OpportunityId"]].append(line)
    regions = Counter(a["Region__c"] for a in accounts.values())
    assert set(regions) == {"NA", "DACH", "UKI", "APAC"}
    assert 0 < regions["APAC"] < regions["NA"]
    stages, approvals = set(), set()
    for opp in tables["Opportunity"].values():
        account = accounts[opp["AccountId"]]
        assert opp["Region__c"] == account["Region__c"]
        assert opp["CurrencyIsoCode"] == account["CurrencyIsoCode"]
        if opp["Region__c"] in REGION_CURRENCY:
            assert opp["CurrencyIsoCode"] == REGION_CURRENCY[opp["Region__c"]]
        assert 1 <= len(lines[opp["Id"]]) <= 3
        assert sum(line["TotalPrice"] for line in lines[opp["Id"]]) == opp["Amount"]
        assert {line["ProductCode"] for line in lines[opp["Id"]]} <= {"FIG-PLAT", "FIG-SUPP", "FIG-SERV"}
        assert opp["IsWon"] == (opp["StageName"] == "Closed Won")
        stages.add(opp["StageName"])
        approvals.add(opp["Approval_Status__c"])
    assert {"Prospecting", "Negotiation/Review", "Closed Won", "Closed Lost"} <= stages
    assert approvals == {"Not Submitted", "Pending", "Approved", "Rejected"}


def test_demo_records_match_the_brief() -> None:
    tables = seed_tables()
    rheinwerk = tables["Account"]["0018d00000DEMOAAAA"]
    assert (rheinwerk["Name"], rheinwerk["Region__c"], rheinwerk["BillingCountry"], rheinwerk["CurrencyIsoCode"]) == (
        "Rheinwerk Analytics GmbH", "DACH", "Germany", "EUR",
    )  # fmt: skip
    thames = tables["Account"]["0018d00000DEMOBAAA"]
    assert (thames["Name"], thames["Region__c"], thames["CurrencyIsoCode"]) == ("Thames Data Ltd", "UKI", "GBP")
    demo1 = tables["Opportunity"]["0068d00000DEMO1AAA"]
    assert demo1["Name"] == "Rheinwerk - Platform Expansion"
    assert (demo1["StageName"], demo1["Approval_Status__c"], demo1["CloseDate"]) == (
        "Negotiation/Review", "Pending", "2026-11-30",
    )  # fmt: skip
    assert demo1["Amount"] == Decimal("14400.00")
    demo2 = tables["Opportunity"]["0068d00000DEMO2AAA"]
    assert (demo2["AccountId"], demo2["IsWon"], demo2["Approval_Status__c"]) == ("0018d00000DEMOBAAA", True, "Approved")
    lines = sorted(
        (line["OpportunityId"][-4:], line["ProductCode"], line["Quantity"], line["UnitPrice"], line["TotalPrice"])
        for line in tables["OpportunityLineItem"].values()
        if line["OpportunityId"].startswith("0068d00000DEMO")
    )
    assert lines == [
        ("O1AAA"[-4:], "FIG-PLAT", 10, Decimal("1200.00"), Decimal("12000.00")),
        ("O1AAA"[-4:], "FIG-SUPP", 1, Decimal("2400.00"), Decimal("2400.00")),
        ("O2AAA"[-4:], "FIG-SUPP", 2, Decimal("1500.00"), Decimal("3000.00")),
    ]


def test_scale_generates_benchmark_volumes() -> None:
    tables = seed_tables(scale=50)
    assert len(tables["Opportunity"]) == 200 * 50 + 2
    assert len(tables["Account"]) == 50 * 50 + 2
