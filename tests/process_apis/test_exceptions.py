"""Exception queue: a failed gate parks the run with one owned exception; retry, resolve, assign, dead-letter."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from process_apis.controls import load_mapping_set
from process_apis.errors import DownstreamRejected, DownstreamUnavailable
from process_apis.workflows import OutagePolicy, QuoteToCash, RetryPolicy, RunStore
from servicekit import RedisClient
from tests.process_apis.fake_systems import Systems, account_for
from tests.process_apis.fakes import DEMO2, FakeCrm, FakeErp, FakePlanning, opportunity
from tests.process_apis.support import process_api, run_reaches, settings_for, until

RUN = f"q2c-{DEMO2}"
EXC = f"exc-{RUN}-1"


def engine_for(redis: RedisClient, crm: FakeCrm, erp: FakeErp | None = None) -> QuoteToCash:
    return QuoteToCash(
        store=RunStore(redis, lock_ttl=10),
        crm=crm,
        erp=erp or FakeErp(),
        planning=FakePlanning(),
        mapping=load_mapping_set("default-v1"),
        retry=RetryPolicy(retries=1, backoff=0.001, max_backoff=0.002),
    )


async def test_a_validation_defect_parks_the_run_with_one_owned_exception(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity(region="APAC", currency="USD")))
    await engine.start(DEMO2, actor="client:demo", correlation_id="corr-x")
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert (run.state, run.exception_id, run.exceptions) == ("failed", EXC, 1)
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert (record.reason_code, record.owner_team, record.severity, record.status) == (
        "unmapped_region",
        "finance-master-data",
        "high",
        "open",
    )
    assert (record.workflow, record.run_id, record.gate, record.correlation_id) == (
        "quote_to_cash",
        RUN,
        "validated",
        "corr-x",
    )
    assert (record.sla_due_at - record.created_at).total_seconds() == 24 * 3600
    assert record.retry_policy.automatic is False
    assert [(h.action, h.actor, h.to_status) for h in record.history] == [("opened", "worker:a", "open")]
    # Another turn (a redelivered work item) changes nothing and opens nothing.
    await engine.advance(RUN, actor="worker:b")
    assert await redis.zrange("fig:exc:index", 0, -1) == [EXC.encode()]


async def test_missing_tax_jurisdiction_goes_to_the_tax_team(redis: RedisClient) -> None:
    crm = FakeCrm(opportunity())
    crm.accounts["0018d00000DEMOBAAA"] = msgspec.structs.replace(
        crm.accounts["0018d00000DEMOBAAA"], tax_jurisdiction=None
    )
    engine = engine_for(redis, crm)
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert (record.reason_code, record.owner_team) == ("missing_tax_jurisdiction", "tax")


async def test_a_downstream_refusal_is_an_integration_ops_exception_and_retry_completes_it(redis: RedisClient) -> None:
    erp = FakeErp(book_on_create=True)
    erp.fail["upsert_sales_order"] = [DownstreamRejected("erp answered 422: item inactive", service="erp")]
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    await engine.start(DEMO2, actor="client:demo")
    parked = await engine.advance(RUN, actor="worker:a")
    assert parked is not None
    assert (parked.state, parked.error.gate if parked.error else None) == ("failed", "order_created")
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert (record.reason_code, record.owner_team, record.gate) == (
        "downstream_rejected",
        "integration-ops",
        "order_created",
    )

    resumed = await engine.resume(RUN, actor="client:ops", via="retry", note="item reactivated")
    assert (resumed.state, resumed.resumed_at) == ("customer_resolved", "order_created")
    retrying = await engine.exceptions.get(EXC)
    assert retrying is not None
    assert retrying.status == "retrying"
    done = await engine.advance(RUN, actor="worker:b")
    assert done is not None
    assert done.state == "completed"
    settled = await engine.exceptions.get(EXC)
    assert settled is not None
    assert [h.action for h in settled.history] == ["opened", "retry", "auto_resolved"]
    assert settled.status == "resolved"
    # The customer step was not repeated: the run continued from its last good gate.
    assert [c[0] for c in erp.calls].count("upsert_customer") == 1


async def test_a_retry_that_fails_again_reopens_the_same_exception(redis: RedisClient) -> None:
    engine = engine_for(redis, FakeCrm(opportunity(region="APAC", currency="USD")))
    await engine.start(DEMO2, actor="client:demo")
    await engine.advance(RUN, actor="worker:a")
    await engine.resume(RUN, actor="client:ops", via="retry")
    again = await engine.advance(RUN, actor="worker:a")
    assert again is not None
    assert (again.state, again.exception_id, again.exceptions) == ("failed", EXC, 1)
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert ([h.action for h in record.history], record.status, record.failures) == (
        ["opened", "retry", "failed_again"],
        "open",
        2,
    )
    assert await redis.zcard("fig:exc:index") == 1


async def test_transient_failures_retry_automatically_then_dead_letter_and_replay_continues(
    redis: RedisClient,
) -> None:
    erp = FakeErp(book_on_create=True)
    # Two failures per advance (the first attempt and the one in-step retry), for two advances.
    erp.fail["upsert_customer"] = [DownstreamUnavailable("erp down", service="erp", downstream_status=503)] * 4
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    engine.outage = OutagePolicy(horizon=0.0)  # no waiting out the outage: straight to the exception policy
    rule = engine.policy.reasons["downstream_unavailable"]
    engine.policy.reasons["downstream_unavailable"] = msgspec.structs.replace(
        rule, retry=msgspec.structs.replace(rule.retry, max_attempts=2, backoff_seconds=0.0)
    )
    await engine.start(DEMO2, actor="client:demo")
    first = await engine.advance(RUN, actor="worker:a")
    assert first is not None
    assert first.state == "failed"
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert (record.status, record.reason_code, record.severity) == ("open", "downstream_unavailable", "critical")

    assert await engine.retry_due(actor="sweep:a") == 1
    assert await engine.retry_due(actor="sweep:b") == 0  # taken once
    dead = await engine.advance(RUN, actor="worker:a")
    assert dead is not None
    assert dead.state == "dead_lettered"
    record = await engine.exceptions.get(EXC)
    assert record is not None
    assert ([h.action for h in record.history], record.status, record.failures) == (
        ["opened", "retry", "failed_again"],
        "dead_lettered",
        2,
    )
    assert await redis.zcard("fig:exc:auto-retry") == 0

    await engine.resume(RUN, actor="client:ops", via="replay")
    done = await engine.advance(RUN, actor="worker:a")
    assert done is not None
    assert done.state == "completed"
    gates = [g.gate for g in done.gates]
    assert gates[:3] == ["received", "validated", "failed"]
    assert gates[3] == "validated"  # the retry re-entered the last good gate
    assert len(erp.orders) == 1
    # The replay settled the exception: it leaves the dead-letter queue, with the replay in its history.
    settled = await engine.exceptions.get(EXC)
    assert settled is not None
    assert (settled.status, [h.action for h in settled.history]) == (
        "resolved",
        ["opened", "retry", "failed_again", "replay", "auto_resolved"],
    )


async def test_a_throttle_signal_sets_the_wait(redis: RedisClient) -> None:
    erp = FakeErp(book_on_create=True)
    erp.fail["upsert_customer"] = [DownstreamUnavailable("429", service="erp", downstream_status=429, retry_after=0.2)]
    engine = engine_for(redis, FakeCrm(opportunity()), erp)
    await engine.start(DEMO2, actor="client:demo")
    loop_time = asyncio.get_running_loop().time
    started = loop_time()
    run = await engine.advance(RUN, actor="worker:a")
    assert run is not None
    assert run.state == "completed"
    assert loop_time() - started >= 0.2  # the jitter alone would wait at most 2 ms


async def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return await client.post(path, json=body)


async def test_the_exception_api_lists_filters_pages_and_acts(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    ids = [f"0068d00000EXC{n:02d}AAA" for n in range(3)]
    defects = [
        opportunity(ids[0], region="APAC", currency="USD", account_id="0018d00000ACC00AAA"),
        opportunity(ids[1], currency="EUR", account_id="0018d00000ACC01AAA"),
        opportunity(ids[2], account_id="0018d00000ACC02AAA"),
    ]
    systems.reset(*defects)
    systems.accounts["0018d00000ACC02AAA"] = account_for(defects[2], tax_jurisdiction=None)
    async with process_api(settings_for(systems, redis_url, four_eyes=False)) as client:
        for opp in ids:
            assert (await _post(client, "/v1/quote-to-cash/runs", {"opportunity_id": opp})).status_code == 202
        for opp in ids:
            await run_reaches(client, f"q2c-{opp}", "failed")

        async def indexed() -> bool:
            return int(await redis.zcard("fig:exc:index")) == 3

        await until(indexed)
        listed = (await client.get("/v1/exceptions", params={"status": "open"})).json()
        assert sorted(e["reason_code"] for e in listed["items"]) == [
            "missing_tax_jurisdiction",
            "unmapped_region",
            "unsupported_currency",
        ]
        by_owner = (await client.get("/v1/exceptions", params={"owner": "tax"})).json()["items"]
        assert [e["run_id"] for e in by_owner] == [f"q2c-{ids[2]}"]
        gb = (await client.get("/v1/exceptions", params={"entity": "GB01", "severity": "high"})).json()["items"]
        assert sorted(e["reason_code"] for e in gb) == ["missing_tax_jurisdiction", "unsupported_currency"]
        first = (await client.get("/v1/exceptions", params={"limit": 2})).json()
        second = (await client.get("/v1/exceptions", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        assert len(first["items"]) == 2
        assert len(second["items"]) == 1
        assert {e["id"] for e in first["items"] + second["items"]} == {f"exc-q2c-{o}-1" for o in ids}
        bad = await client.get("/v1/exceptions", params={"cursor": "!!"})
        assert bad.status_code == 400

        tax = f"exc-q2c-{ids[2]}-1"
        assigned = await _post(client, f"/v1/exceptions/{tax}/assign", {"owner_team": "tax-emea", "note": "EMEA"})
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["owner_team"] == "tax-emea"
        no_note = await _post(client, f"/v1/exceptions/{tax}/resolve", {})
        assert no_note.status_code == 400
        resolved = await _post(client, f"/v1/exceptions/{tax}/resolve", {"note": "filed manually"})
        assert resolved.json()["status"] == "resolved"
        again = await _post(client, f"/v1/exceptions/{tax}/resolve", {"note": "twice"})
        assert again.status_code == 409
        history = (await client.get(f"/v1/exceptions/{tax}")).json()["history"]
        assert [(h["action"], h.get("from_status"), h["to_status"]) for h in history] == [
            ("opened", None, "open"),
            ("assigned", "open", "open"),
            ("resolved", "open", "resolved"),
        ]
        assert history[1]["owner_team"] == "tax-emea"
        assert history[2]["note"] == "filed manually"

        region = f"exc-q2c-{ids[0]}-1"
        dead = await _post(client, f"/v1/exceptions/{region}/dead-letter", {"note": "no APAC entity yet"})
        assert dead.json()["status"] == "dead_lettered"
        assert (await client.get("/v1/exceptions/exc-q2c-nope-1")).status_code == 404
        assert (await _post(client, "/v1/exceptions/exc-q2c-nope-1/retry", {})).status_code == 404


async def test_a_retry_of_validation_validates_the_opportunity_as_fixed_in_crm(redis: RedisClient) -> None:
    crm = FakeCrm(opportunity(currency="EUR"))  # UKI sells in GBP only
    engine = engine_for(redis, crm, FakeErp(book_on_create=True))
    await engine.start(DEMO2, actor="client:demo")
    parked = await engine.advance(RUN, actor="worker:a")
    assert parked is not None
    assert parked.state == "failed"
    crm.opportunities[DEMO2] = opportunity()  # sales ops corrected the currency in CRM
    await engine.resume(RUN, actor="client:ops", via="retry")
    done = await engine.advance(RUN, actor="worker:a")
    assert done is not None
    assert done.state == "completed"
    assert (await engine.store.source(RUN)).opportunity.amount.currency == "GBP"
