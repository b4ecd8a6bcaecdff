"""The process API in-process, against fake system APIs served over real HTTP and a real Redis."""

from __future__ import annotations

from typing import Any

import msgspec

from contracts import BOOKING_COMMITTED, SALES_ORDER_BOOKED, CloudEvent, new_event
from process_apis import ProcessSettings, create_app
from process_apis.workers import ERP_GROUP, WORK_GROUP
from process_apis.workflows import WORK_STREAM
from servicekit import RedisClient, StreamPublisher, free_port
from tests.process_apis.fake_systems import Systems
from tests.process_apis.fakes import DEMO1, DEMO2, opportunity
from tests.process_apis.support import RUNS, process_api, run_reaches, settings_for, until
from tests.support import keys_matching
from tests.tokens import TestIssuer

RUN2 = f"q2c-{DEMO2}"


async def publish_booked(redis: RedisClient, order_id: str, external_id: str) -> str:
    event = new_event(
        source="/system-apis/erp",
        type=SALES_ORDER_BOOKED,
        data={"sales_order_id": order_id, "external_id": external_id, "status": "pending_fulfillment"},
    )
    return await StreamPublisher(redis, "fig:events:{erp}").publish(event)


async def handled(redis: RedisClient, entry_id: str) -> None:
    """Wait until the process API's ERP consumer has acknowledged the entry and the work it queued is done.

    The positive signal a "nothing changed" check waits for, instead of a fixed sleep.
    """

    def settled(groups: Any, name: str, last: str | None = None) -> bool:
        for group in groups:
            info = {str(k): v.decode() if isinstance(v, bytes) else v for k, v in group.items()}
            if info["name"] == name:
                delivered = tuple(map(int, info["last-delivered-id"].split("-")))
                caught_up = last is None or delivered >= tuple(map(int, last.split("-")))
                return caught_up and info["pending"] == 0 and info.get("lag") in (0, None)
        return False

    async def done() -> bool:
        erp = await redis.xinfo_groups("fig:events:{erp}")
        work = await redis.xinfo_groups(WORK_STREAM)
        return settled(erp, ERP_GROUP, entry_id) and settled(work, WORK_GROUP)

    await until(done)


async def test_post_runs_to_order_created_and_a_booked_event_completes_it(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        trace = "4bf92f3577b34da6a3ce929d0e0e4736"
        response = await client.post(
            RUNS,
            json={"opportunity_id": DEMO2},
            headers={"X-Correlation-ID": "corr-e2e", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"},
        )
        assert response.status_code == 202, response.text
        assert response.json()["trace_id"] == trace  # the caller's trace: open the run in the tracing tool
        assert response.headers["location"] == f"{RUNS}/{RUN2}"
        assert (response.json()["id"], response.json()["state"]) == (RUN2, "received")

        waiting = await run_reaches(client, RUN2, "order_created")
        assert (waiting["status"], waiting["legal_entity"], waiting["correlation_id"]) == (
            "waiting",
            "GB01",
            "corr-e2e",
        )
        order = systems.orders[f"SF-{DEMO2}"]
        assert waiting["erp_order_id"] == order.id
        assert [line.item_id for line in order.lines] == ["102"]

        await publish_booked(redis, order.id, f"SF-{DEMO2}")
        done = await run_reaches(client, RUN2, "completed")

    assert [g["gate"] for g in done["gates"]] == [
        "received",
        "validated",
        "customer_resolved",
        "order_created",
        "order_booked",
        "forecast_committed",
        "completed",
    ]
    assert done["planning"] == {
        "import_id": "112000000001",
        "task_id": "task-1",
        "successful": True,
        "rows_loaded": 1,
        "rows_rejected": 0,
    }
    [load] = systems.loads
    assert [(b.booking_code, b.period, str(b.amount.amount)) for b in load.bookings] == [
        (f"SO{order.id}-1", "2026-11", "3000.00")
    ]
    entries: Any = await redis.xrange("fig:events:{finance}")
    events = [msgspec.json.decode(fields[b"event"], type=CloudEvent) for _, fields in entries]
    assert [(e.type, e.subject, e.correlationid, e.legalentity) for e in events] == [
        (BOOKING_COMMITTED, RUN2, "corr-e2e", "GB01")
    ]
    # Every call downstream carried the service token and the caller's correlation id.
    assert systems.calls
    for call in systems.calls:
        assert call.headers["authorization"] == "Bearer fake-service-token"
        assert call.headers["x-correlation-id"] == "corr-e2e"
    # ... and the worker's calls continue the POST's trace.
    trace_ids = {call.headers["traceparent"].split("-")[1] for call in systems.calls}
    assert len(trace_ids) == 1
    assert systems.token_scopes[0] == "crm:read crm:write erp:read erp:write planning:read planning:write"


async def test_posting_the_same_opportunity_again_returns_the_same_run_and_creates_one_order(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        first = await client.post(RUNS, json={"opportunity_id": DEMO2})
        second = await client.post(RUNS, json={"opportunity_id": DEMO2})
        assert (first.status_code, second.status_code) == (202, 200)
        assert second.json()["id"] == first.json()["id"]
        await run_reaches(client, RUN2, "order_created")
        await publish_booked(redis, systems.orders[f"SF-{DEMO2}"].id, f"SF-{DEMO2}")
        await run_reaches(client, RUN2, "completed")
        after = await client.post(RUNS, json={"opportunity_id": DEMO2})
        assert (after.status_code, after.json()["state"]) == (200, "completed")
        # A duplicate booking event after completion changes nothing either.
        again = await publish_booked(redis, systems.orders[f"SF-{DEMO2}"].id, f"SF-{DEMO2}")
        await handled(redis, again)
        final = (await client.get(f"{RUNS}/{RUN2}")).json()

    order_puts = systems.of("erp", "PUT")
    assert [(c.path, c.headers["idempotency-key"]) for c in order_puts] == [
        ("/v1/customers/SF-0018d00000DEMOBAAA", f"q2c:{DEMO2}:resolve-customer"),
        (f"/v1/sales-orders/SF-{DEMO2}", f"q2c:{DEMO2}:create-order"),
    ]
    assert len(systems.loads) == 1
    assert len(final["gates"]) == 7
    assert await redis.xlen("fig:events:{finance}") == 1


async def test_unknown_opportunity_is_404_and_writes_nothing(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        response = await client.post(RUNS, json={"opportunity_id": "0068d00000NOPE0AAA"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/opportunity-not-found")
    assert [c.service for c in systems.calls] == ["crm"]
    assert await keys_matching(redis, "fig:q2c:{*") == []
    assert await redis.xlen("fig:q2c:work") == 0


async def test_unapproved_opportunity_is_422_naming_stage_and_approval(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        response = await client.post(RUNS, json={"opportunity_id": DEMO1})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/opportunity-not-approved")
    assert "Negotiation/Review" in body["detail"]
    assert "pending" in body["detail"]
    assert [c.service for c in systems.calls] == ["crm"]
    assert await keys_matching(redis, "fig:q2c:{*") == []


async def test_crm_down_is_503(systems: Systems, redis: RedisClient, redis_url: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    async with process_api(settings_for(systems, redis_url, crm_url=dead)) as client:
        response = await client.post(RUNS, json={"opportunity_id": DEMO2})
        ready = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["type"].endswith("/downstream-unavailable")
    assert int(response.headers["retry-after"]) >= 1  # as its published 503 says
    assert await keys_matching(redis, "fig:q2c:{*") == []
    assert ready.status_code == 503
    assert ready.json()["extensions"]["checks"]["crm"].startswith("failed")


async def test_strict_body_and_unknown_run(systems: Systems, redis: RedisClient, redis_url: str) -> None:
    async with process_api(settings_for(systems, redis_url)) as client:
        extra = await client.post(RUNS, json={"opportunity_id": DEMO2, "force": True})
        missing = await client.get(f"{RUNS}/q2c-0068d00000NOPE0AAA")
        ready = await client.get("/health/ready")
    assert extra.status_code == 400
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/run-not-found")
    assert ready.json()["checks"] == {"redis": "ok", "crm": "ok", "erp": "ok", "planning": "ok"}
    assert systems.calls == []
    assert systems.token_scopes == []  # readiness probes need no service token


async def test_the_sweep_completes_a_run_whose_booking_event_was_lost(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    async with process_api(settings_for(systems, redis_url, booking_sweep_interval=0.2)) as client:
        await client.post(RUNS, json={"opportunity_id": DEMO2})
        await run_reaches(client, RUN2, "order_created")
        order = systems.orders[f"SF-{DEMO2}"].id

        async def swept() -> bool:  # the sweep read the order (not booked yet): a positive signal
            return any(c.path == f"/v1/sales-orders/{order}" for c in systems.of("erp", "GET"))

        await until(swept)
        assert (await client.get(f"{RUNS}/{RUN2}")).json()["state"] == "order_created"
        systems.book(f"SF-{DEMO2}")
        done = await run_reaches(client, RUN2, "completed")
    assert done["gates"][4]["actor"].startswith("sweep:")


async def test_runs_are_shared_by_two_instances_and_each_order_is_created_once(
    systems: Systems, redis: RedisClient, redis_url: str
) -> None:
    ids = [f"0068d00000LOAD{n}AAA" for n in range(6)]
    systems.reset(*(opportunity(i) for i in ids))
    settings = settings_for(systems, redis_url, booking_sweep_interval=0.2)
    async with process_api(settings) as one, process_api(settings) as two:
        for n, opp_id in enumerate(ids):
            assert (await (one if n % 2 else two).post(RUNS, json={"opportunity_id": opp_id})).status_code == 202
        for opp_id in ids:
            await run_reaches(one, f"q2c-{opp_id}", "order_created")
        for opp_id in ids:
            systems.book(f"SF-{opp_id}")
        for opp_id in ids:
            run = await run_reaches(two, f"q2c-{opp_id}", "completed")
            assert len(run["gates"]) == 7
    order_puts = sorted(c.path for c in systems.of("erp", "PUT") if "sales-orders" in c.path)
    assert order_puts == sorted(f"/v1/sales-orders/SF-{i}" for i in ids)
    # Forecast commits are batched per window: fewer imports than runs, each booking exactly once.
    codes = [b.booking_code for load in systems.loads for b in load.bookings]
    assert len(codes) == len(set(codes)) == len(ids)
    assert 1 <= len(systems.loads) <= len(ids)
    assert [(await _run(redis, i))["state"] for i in ids] == ["completed"] * len(ids)


async def _run(redis: RedisClient, opp_id: str) -> dict[str, Any]:
    raw: Any = await redis.get(f"fig:q2c:{{q2c-{opp_id}}}:run")
    return dict(msgspec.json.decode(raw))


async def test_scopes_are_enforced(systems: Systems, redis: RedisClient, redis_url: str) -> None:
    issuer = TestIssuer(audience="fig-process")  # what the gateway's token exchange yields
    with issuer.serve() as jwks_base:
        settings = settings_for(
            systems,
            redis_url,
            auth_required=True,
            jwks_url=f"{jwks_base}/.well-known/jwks.json",
            token_issuer=issuer.issuer,
        )
        async with process_api(settings) as client:
            anonymous = await client.post(RUNS, json={"opportunity_id": DEMO2})
            reader = {"Authorization": f"Bearer {issuer.mint(['q2c:read'])}"}
            read_only_post = await client.post(RUNS, json={"opportunity_id": DEMO2}, headers=reader)
            read = await client.get(f"{RUNS}/{RUN2}", headers=reader)
            writer = {"Authorization": f"Bearer {issuer.mint(['q2c:write'], subject='demo')}"}
            started = await client.post(RUNS, json={"opportunity_id": DEMO2}, headers=writer)
            write_only_get = await client.get(f"{RUNS}/{RUN2}", headers=writer)
    assert anonymous.status_code == 401
    assert read_only_post.status_code == 403
    assert read_only_post.json()["type"].endswith("/insufficient-scope")
    assert read.status_code == 404  # authorised, and there is no run yet
    assert started.status_code == 202
    assert started.json()["gates"][0]["actor"] == "client:demo"
    assert write_only_get.status_code == 403


def test_the_openapi_document_describes_runs_precisely(redis_url: str) -> None:
    schema = create_app(ProcessSettings(redis_url=redis_url)).openapi_schema.to_schema()
    post_op = schema["paths"][RUNS]["post"]
    assert post_op["operationId"] == "startQuoteToCashRun"
    assert set(post_op["responses"]) >= {"200", "202", "404", "422", "503"}
    run = schema["components"]["schemas"]["QuoteToCashRun"]
    assert run["properties"]["state"]["enum"][-2:] == ["failed", "dead_lettered"]
