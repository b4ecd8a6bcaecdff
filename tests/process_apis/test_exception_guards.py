"""A settled exception stays settled: its run cannot be resumed through it a second time."""

from __future__ import annotations

from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for

OPP = "0068d00000RSLVDAAA"
RUN = f"q2c-{OPP}"
EXC = f"exc-{RUN}-1"


async def test_a_resolved_exception_is_not_retried_and_its_run_stays_parked(systems: Systems, redis_url: str) -> None:
    deal = opportunity(OPP, account_id="0018d00000RSLVDAAA")
    systems.reset(deal)
    systems.accounts["0018d00000RSLVDAAA"] = account_for(deal, tax_jurisdiction=None)
    async with process_api(settings_for(systems, redis_url, four_eyes=False)) as client:
        assert (await client.post(RUNS, json={"opportunity_id": OPP})).status_code == 202
        await run_reaches(client, RUN, "failed")
        resolved = await client.post(f"/v1/exceptions/{EXC}/resolve", json={"note": "booked by hand in ERP"})
        assert resolved.status_code == 200, resolved.text
        # The deal was handled by a person; once the account is fixed too, a retry would post it to ERP.
        systems.accounts["0018d00000RSLVDAAA"] = account_for(deal)
        retried = await client.post(f"/v1/exceptions/{EXC}/retry", json={"note": "by mistake"})
        assert retried.status_code == 409, retried.text
        assert "is resolved" in retried.json()["detail"]
        run = (await client.get(f"{RUNS}/{RUN}")).json()
        record = (await client.get(f"/v1/exceptions/{EXC}")).json()
    assert run["state"] == "failed"
    assert [g["gate"] for g in run["gates"]][-1] == "failed"
    assert record["status"] == "resolved"
    assert [h["action"] for h in record["history"]] == ["opened", "resolved"]
    assert systems.orders == {}
