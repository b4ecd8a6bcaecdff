"""A Redis Cluster primary SIGKILLed while a few hundred approvals run through the stack.

The stack runs on its own cluster (three primaries, one replica each) with a short node timeout, so
the replica of the killed primary is promoted within seconds. The primary killed is the one that
serves the work queue (and, by slot, the ERP and finance event streams and the waiting index): the
busiest node. The services are not restarted: their cluster clients find the new primary.

What asynchronous replication can lose: writes the primary acknowledged but had not yet sent to its
replica. The test makes that happen (the replica is cut off just before the kill), then does what
the operations runbook says: start the deals of the window again. Every deal must then complete
with exactly one ERP order. With `-s` it prints the bytes lost, the promotion time, and how many
runs had to be created or queued again.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.demo import exchange_token, fetch_token
from deploy.rediscluster import RedisClusterNodes, redis_cluster
from deploy.services import SERVICES
from deploy.stack import Stack
from process_apis.workflows import WORK_STREAM
from servicekit.redis import free_ports
from tests.e2e.test_workflows_stack import Salesforce, candidates, wait_until

pytestmark = pytest.mark.e2e

TOTAL = 240
LOCK_TTL = 5


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    with redis_cluster(Path(tmp_path_factory.mktemp("failover")), primaries=3, replicas=1, node_timeout_ms=1000) as c:
        yield c


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, cluster: RedisClusterNodes) -> Iterator[Stack]:
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    env = {
        "FIG_SCALE": "8",  # about 270 seeded deals dated in open ERP periods
        "FIG_CLAIM_IDLE": "3",
        "FIG_LOCK_TTL": str(LOCK_TTL),
        "FIG_LOCK_WAIT": "0.5",
        "FIG_LOG_LEVEL": "WARNING",
    }
    data_dir = Path(tmp_path_factory.mktemp("failover-stack"))
    with Stack(data_dir, ports=ports, extra_env=env, redis_url=cluster.url) as running:
        yield running


def test_a_primary_killed_mid_run_loses_no_deal_and_doubles_no_order(stack: Stack, cluster: RedisClusterNodes) -> None:
    started = time.monotonic()
    idp, ns_url = stack.url("idp"), stack.url("netsuite-sandbox")
    creds = stack.credentials
    system_token = fetch_token(idp, "process-api", creds.client_secret("process-api"), scope="crm:read")
    demo = exchange_token(
        idp, fetch_token(idp, "demo", creds.client_secret("demo")), actor=("gateway", creds.client_secret("gateway"))
    )
    before = {id(p): p.popen.pid for p in stack.processes}
    with ExitStack() as opened:
        process = stack.url("process")
        api = opened.enter_context(
            httpx.Client(base_url=process, headers={"Authorization": f"Bearer {demo}"}, timeout=30)
        )
        admin = opened.enter_context(httpx.Client(timeout=30))
        sf = Salesforce(stack.url("salesforce-sandbox"))
        opened.callback(sf.http.close)

        # Deals of mapped regions only: every one of them must complete.
        deals = [o["id"] for o in candidates(stack.url("crm"), system_token) if o["region"] != "APAC"][:TOTAL]
        assert len(deals) == TOTAL
        sf.close_won(deals)

        def run(opp: str) -> dict[str, Any]:
            try:
                response = api.get(f"/v1/quote-to-cash/runs/q2c-{opp}")
            except httpx.HTTPError:
                return {}
            return response.json() if response.status_code == 200 else {}

        # Kill once about a quarter of the runs have started: the rest arrive during the failover.
        wait_until(lambda: sum(bool(run(o)) for o in deals[::10]) >= 6, 60, "a quarter of the runs started")
        victim = cluster.primary_of(WORK_STREAM)
        replica = cluster.replica_of(victim)
        # The replica is cut off (stopped, its link closed), so the primary acknowledges writes it
        # alone holds, then dies: those writes are lost, as with a failover under load.
        cluster.signal(replica, signal.SIGSTOP)
        try:
            cluster.drop_replicas(victim)
            stopped_at = cluster.replication_offset(victim)
            wait_until(
                lambda: cluster.replication_offset(victim) - stopped_at > 20_000, 30, "writes the replica misses", 0.05
            )
            written = cluster.replication_offset(victim)
            cluster.kill(victim)
        finally:
            cluster.signal(replica, signal.SIGCONT)
        killed_at = time.monotonic()
        promoted = cluster.wait_promoted(WORK_STREAM, victim)
        promoted_after = time.monotonic() - killed_at
        lost = written - cluster.promoted_at(promoted)

        approved: set[str] = set()
        states: dict[str, str] = {}
        updated: dict[str, datetime] = {}
        errors: Counter[str] = Counter()

        def book_and_check() -> bool:
            done = 0
            for opp in deals:
                body = run(opp)
                states[opp] = str(body.get("state"))
                if body:
                    updated[opp] = datetime.fromisoformat(body["updated_at"])
                if not body:
                    errors["run read failed"] += 1
                if body.get("state") == "order_created" and opp not in approved:
                    response = admin.post(f"{ns_url}/__admin/sales-orders/{body['erp_order_id']}/approve")
                    assert response.status_code in (200, 400), response.text
                    approved.add(opp)
                done += body.get("state") == "completed"
            return done == len(deals)

        def settled() -> bool:
            book_and_check()
            stale = datetime.now(UTC) - timedelta(seconds=LOCK_TTL + 1)
            return all(s in ("completed", "None") or updated[o] < stale for o, s in states.items())

        # Every run the cluster still knows completes on its own, or stops moving: its work item was
        # lost with the primary. A run lost whole (its approval event consumed, its keys never
        # replicated) has none. Both are started again through the API, as the operations runbook
        # says: idempotent, it creates a lost run and queues again one idle longer than a lease.
        wait_until(
            settled, 120, "every surviving run completed or idle", every=1.0, seen=lambda: Counter(states.values())
        )
        restarted = Counter(
            api.post("/v1/quote-to-cash/runs", json={"opportunity_id": o}).status_code
            for o in deals
            if states[o] != "completed"
        )
        assert set(restarted) <= {200, 202}, restarted
        wait_until(book_and_check, 60, "all runs completed", every=1.0, seen=lambda: Counter(states.values()))
        completed_after = time.monotonic() - killed_at

        for opp in deals:
            orders = admin.get(f"{ns_url}/__admin/sales-orders", params={"externalId": f"SF-{opp}"}).json()["items"]
            assert len(orders) == 1, (opp, orders)
        summary = api.get("/v1/ops/summary").json()
        assert summary["open_exceptions"] == 0
    # No service was restarted: the same processes, all alive.
    assert {id(p): p.popen.pid for p in stack.processes} == before
    assert not stack.dead()
    print(
        f"\ncluster failover: {TOTAL} approvals; primary of the work queue SIGKILLed at "
        f"{killed_at - started:.1f}s; acknowledged writes lost with it: {lost} bytes of replication stream; "
        f"replica promoted after "
        f"{promoted_after:.1f}s; all runs completed {completed_after:.1f}s after the kill; "
        f"{TOTAL} orders, none doubled; runs started again: {restarted[202]} created, {restarted[200]} found; "
        f"polls of a run that failed meanwhile: {errors['run read failed']}; ops summary: orders_created "
        f"{summary['orders_created']}, runs_completed {summary['runs_completed']}, order_reposts "
        f"{summary['order_reposts']}"
    )
