"""Quote-to-cash throughput and latency on the running stack, against a no-controls reference.

Starts the whole stack (`deploy.stack.Stack`, embedded Redis, every service its own process) with
the Salesforce sandbox seeded large enough, plus `--instances - 1` extra process-API instances.
Then, in one run:

1. **process**: approves `--count` seeded opportunities (admin bulk close-won, paced at `--rate`
   per second), so runs start from the CRM feed's approval events as in production; an "ERP user"
   task approves every pending `SF-` sales order as it appears (in the sandbox, as a user would);
   waits until every run committed its forecast (watched through `GET /v1/ops/summary`, one call
   a second). Reports completed runs/s (first approval to last forecast commit), p50/p95/p99 of
   approval -> `order_created` and approval -> `forecast_committed` (gate times), and Redis
   commands per run (`INFO stats` delta over the phase, every service of the stack included:
   feeds, idempotency, runs).
2. **reference**: the same system-API calls for another `--count` opportunities, back to back
   with `--ref-concurrency` clients and no controls (no run state, queue, validation, exceptions):
   CRM read, ERP customer upsert, ERP order upsert, ERP approval, and one planning load per 200
   bookings (the same batching the process uses).

    .venv/bin/python -m bench.workflows.run --count 1000 --instances 2

`--redis cluster` runs the process phase a second time, in the same sitting, on a fresh stack whose
Redis is a Redis Cluster (three primaries with one replica each, on loopback, `deploy.rediscluster`),
and reports it as `process_cluster` next to the single-Redis `process`, with their throughput ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis as redis_sync
import uvloop

from bench.workflows.cpu import cpu_by_service, per_run_ms
from deploy.demo import exchange_token, fetch_token
from deploy.rediscluster import RedisClusterNodes, redis_cluster
from deploy.services import SERVICES
from deploy.stack import ManagedProcess, Stack
from servicekit.http import create_http_client
from servicekit.redis import free_port, free_ports


def spawn_process_instance(stack: Stack, port: int, label: str) -> ManagedProcess:
    """Another process-API instance on `port` (same Redis, same consumer groups); stopped with the stack."""
    return stack.add_instance("process", port, label)


#: The sandbox ERP's first open accounting period: a deal dated earlier parks as `period_closed`.
FIRST_OPEN_PERIOD = "2026-11"


async def candidates(client: httpx.AsyncClient, crm: str, need: int) -> list[dict[str, Any]]:
    """Not-won seeded opportunities with lines in a mapped region, dated in an open period (clean runs only)."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(found) < need:
        params = {"won": "false", "limit": "200"} | ({"cursor": cursor} if cursor else {})
        body = (await client.get(f"{crm}/v1/opportunities", params=params)).raise_for_status().json()
        found += [
            o
            for o in body["items"]
            if o["lines"] and o["region"] in ("NA", "DACH", "UKI") and o["close_date"][:7] >= FIRST_OPEN_PERIOD
        ]
        cursor = body["next_cursor"]
        if not cursor:
            break
    return found[:need]


async def erp_approver(client: httpx.AsyncClient, netsuite: str, stop: asyncio.Event, approved: set[str]) -> None:
    """An ERP user working through the approval queue: every pending `SF-` order, as soon as it shows up.

    Straight in the NetSuite sandbox (as a user in NetSuite's UI), so the "user" adds no load to the
    ERP system API whose throughput is being measured.
    """
    while not stop.is_set():
        response = await client.post(
            f"{netsuite}/__admin/sales-orders/approve-pending", json={"external_id_prefix": "SF-", "limit": 5000}
        )
        if response.status_code == 200:
            approved.update(response.json()["approved"])
        await asyncio.sleep(0.2)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def process_phase(
    stack: Stack, chosen: list[dict[str, Any]], rate: float, within: float, cluster: RedisClusterNodes | None = None
) -> dict[str, Any]:
    idp = stack.url("idp")
    creds = stack.credentials
    system = fetch_token(idp, "process-api", creds.client_secret("process-api"), scope="erp:read")
    # The process API accepts the gateway's exchanged tokens only; the benchmark reads it directly.
    consumer = fetch_token(idp, "demo", creds.client_secret("demo"), scope="q2c:read ops:read")
    demo = exchange_token(idp, consumer, actor=("gateway", creds.client_secret("gateway")))
    commands_before = redis_commands(stack, cluster)
    cpu_before = cpu_by_service(stack)
    approved_at: dict[str, float] = {}
    stop = asyncio.Event()
    booked: set[str] = set()
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {system}"}, timeout=60) as sys_client,
        httpx.AsyncClient(headers={"Authorization": f"Bearer {demo}"}, timeout=60) as api,
    ):
        approver = asyncio.create_task(erp_approver(sys_client, stack.url("netsuite-sandbox"), stop, booked))
        chunk = max(1, int(rate / 4))
        started = time.time()
        for start in range(0, len(chosen), chunk):
            ids = [o["id"] for o in chosen[start : start + chunk]]
            (await sys_client.post(f"{stack.url('salesforce-sandbox')}/__admin/opportunities/close-won",
                                   json={"ids": ids})).raise_for_status()  # fmt: skip
            now = time.time()
            approved_at.update(dict.fromkeys(ids, now))
            await asyncio.sleep(max(0.0, started + (start + chunk) / rate - time.time()))
        process = stack.url("process")
        deadline = time.monotonic() + within
        # Completion from the ops counters (one call a second), so polling does not load the stack.
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            summary = (await api.get(f"{process}/v1/ops/summary")).json()
            if summary["runs_completed"] + summary["open_exceptions"] >= len(chosen):
                break
        commands = redis_commands(stack, cluster) - commands_before
        cpu_after = cpu_by_service(stack)
        runs: dict[str, dict[str, Any]] = {}
        for start in range(0, len(chosen), 50):
            batch = [o["id"] for o in chosen[start : start + 50]]
            replies = await asyncio.gather(*(api.get(f"{process}/v1/quote-to-cash/runs/q2c-{opp}") for opp in batch))
            runs.update({opp: r.json() for opp, r in zip(batch, replies, strict=True) if r.status_code == 200})
        pending = [o["id"] for o in chosen if runs.get(o["id"], {}).get("state") not in ("completed", "failed")]
        stop.set()
        await approver

    def gate_time(run: dict[str, Any], gate: str) -> float | None:
        at = next((g["at"] for g in run["gates"] if g["gate"] == gate), None)
        return datetime.fromisoformat(at).timestamp() if at else None

    completed = [(o, r) for o, r in runs.items() if r["state"] == "completed"]
    to_order = [(gate_time(r, "order_created") or 0) - approved_at[o] for o, r in completed]
    to_forecast = [(gate_time(r, "forecast_committed") or 0) - approved_at[o] for o, r in completed]
    first = min(approved_at.values())
    last = max((gate_time(r, "forecast_committed") or 0) for _, r in completed) if completed else first
    return {
        "runs": len(chosen),
        "completed": len(completed),
        "not_finished": len(pending),
        "failed": sum(r["state"] != "completed" for r in runs.values()),
        "seconds": round(last - first, 2),
        "runs_per_s": round(len(completed) / (last - first), 1) if completed else 0.0,
        "approval_to_order_ms": {f"p{q}": round(pct(to_order, q / 100) * 1000) for q in (50, 95, 99)},
        "approval_to_forecast_ms": {f"p{q}": round(pct(to_forecast, q / 100) * 1000) for q in (50, 95, 99)},
        "mean_approval_to_forecast_ms": round(statistics.fmean(to_forecast) * 1000) if to_forecast else None,
        "redis_commands_per_run": round(commands / max(1, len(completed)), 1),
        "cpu_ms_per_run": per_run_ms(cpu_before, cpu_after, len(completed)),
    }


async def reference_phase(stack: Stack, chosen: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    """The same system-API calls back to back: no run state, no queue, no controls.

    Calls go through the services' own client (`servicekit.create_http_client`, plain calls on its
    direct aiohttp path), so the reference measures the system APIs and sandboxes rather than a
    slower client in front of them.
    """
    token = fetch_token(stack.url("idp"), "process-api", stack.credentials.client_secret("process-api"))
    subsidiary = {"NA": ("1", "US01"), "DACH": ("2", "DE01"), "UKI": ("3", "GB01")}
    items = {"FIG-PLAT": "101", "FIG-SUPP": "102", "FIG-SERV": "103"}
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for o in chosen:
        queue.put_nowait(o)
    bookings: list[dict[str, Any]] = []
    loads = 0
    names = ("crm", "erp", "planning", "netsuite-sandbox")
    clients = {name: create_http_client(stack.url(name), timeout=60, retries=0) for name in names}
    for client in clients.values():
        client.headers["Authorization"] = f"Bearer {token}"

    async def call(service: str, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {"content-type": "application/json"} | ({"Idempotency-Key": key} if key else {})
        content = json.dumps(body).encode() if body is not None else None
        response = await clients[service].request(method, path, content=content, headers=headers)
        if response.status_code >= 400:
            raise RuntimeError(f"{service} answered {response.status_code} to {method} {path}: {response.text[:300]}")
        return response.json() if response.content else None

    async def flush(force: bool = False) -> None:
        nonlocal loads
        while len(bookings) >= 200 or (force and bookings):
            batch, bookings[:] = bookings[:200], bookings[200:]
            await call("planning", "POST", "/v1/committed-bookings", {"bookings": batch}, key=f"ref-{loads}")
            loads += 1

    async def worker() -> None:
        while not queue.empty():
            o = queue.get_nowait()
            opp = await call("crm", "GET", f"/v1/opportunities/{o['id']}")
            sub, entity = subsidiary[opp["region"]]
            currency = opp["amount"]["currency"]
            customer = {"name": opp.get("account_name") or opp["account_id"], "subsidiary_id": sub,
                        "currency": currency}  # fmt: skip
            cust = await call("erp", "PUT", f"/v1/customers/REF-{opp['account_id']}", customer)
            lines = [
                {"item_id": items[line["product_code"]], "quantity": line["quantity"],
                 "unit_price": line["unit_price"], "amount": line["total"]}
                for line in opp["lines"]
            ]  # fmt: skip
            order = {"customer_id": cust["id"], "subsidiary_id": sub, "currency": currency,
                     "tran_date": opp["close_date"], "lines": lines}  # fmt: skip
            made = await call("erp", "PUT", f"/v1/sales-orders/REF-{opp['id']}", order)
            await call("netsuite-sandbox", "POST", f"/__admin/sales-orders/{made['id']}/approve")
            bookings.extend(
                {"booking_code": f"SO{made['id']}-{n}", "legal_entity": entity, "period": opp["close_date"][:7],
                 "product_code": line["product_code"], "amount": line["total"]}
                for n, line in enumerate(opp["lines"], start=1)
            )  # fmt: skip
            await flush()

    started = time.monotonic()
    cpu_before = cpu_by_service(stack)
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await flush(force=True)
    finally:
        for client in clients.values():
            await client.aclose()
    seconds = time.monotonic() - started
    return {"runs": len(chosen), "seconds": round(seconds, 2), "runs_per_s": round(len(chosen) / seconds, 1),
            "planning_loads": loads,
            "cpu_ms_per_run": per_run_ms(cpu_before, cpu_by_service(stack), len(chosen))}  # fmt: skip


def redis_commands(stack: Stack, cluster: RedisClusterNodes | None) -> int:
    """Commands processed so far by the stack's Redis (every primary of a cluster)."""
    urls = [f"redis://127.0.0.1:{n.port}/0" for n in cluster.primaries()] if cluster else [stack.redis_url or ""]
    total = 0
    for url in urls:
        client = redis_sync.Redis.from_url(url)
        total += int(client.info("stats")["total_commands_processed"])
        client.close()
    return total


@contextmanager
def bench_stack(
    tmp: Path, env: dict[str, str], instances: int, cluster: bool
) -> Iterator[tuple[Stack, RedisClusterNodes | None]]:
    """A stack on its own redis-server, or on its own Redis Cluster, with `instances` process APIs."""
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    if not cluster:
        with Stack(tmp, ports=ports, extra_env=env) as stack:
            for n in range(1, instances):
                spawn_process_instance(stack, free_port(), f"process-{n + 1}")
            yield stack, None
        return
    with (
        redis_cluster(tmp / "cluster", primaries=3, replicas=1) as nodes,
        Stack(tmp, ports=ports, extra_env=env, redis_url=nodes.url) as stack,
    ):
        for n in range(1, instances):
            spawn_process_instance(stack, free_port(), f"process-{n + 1}")
        yield stack, nodes


async def pool_of(stack: Stack, need: int, scale: int) -> list[dict[str, Any]]:
    token = fetch_token(
        stack.url("idp"), "process-api", stack.credentials.client_secret("process-api"), scope="crm:read"
    )
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        pool = await candidates(client, stack.url("crm"), need)
    if len(pool) < need:
        raise SystemExit(f"only {len(pool)} clean candidate opportunities at scale {scale}")
    return pool


async def main(args: argparse.Namespace) -> dict[str, Any]:
    # ~68 of each 200 seeded deals are clean: not won, mapped, dated in an open ERP period.
    scale = max(1, math.ceil(args.count * 2 / 60))
    env = {"FIG_SCALE": str(scale), "FIG_LOG_LEVEL": "WARNING", "FIG_WORKER_CONCURRENCY": str(args.concurrency)}
    result: dict[str, Any] = {"count": args.count, "instances": args.instances, "scale": scale}
    with (
        tempfile.TemporaryDirectory(prefix="fig-bench-") as tmp,
        bench_stack(Path(tmp), env, args.instances, cluster=False) as (stack, _),
    ):
        pool = await pool_of(stack, args.count * (2 if args.reference else 1), scale)
        result["process"] = await process_phase(stack, pool[: args.count], args.rate, args.timeout)
        if args.reference:
            result["reference"] = await reference_phase(stack, pool[args.count :], args.ref_concurrency)
    if args.redis == "cluster":
        # A fresh stack (same seed, so the same deals) on a cluster: the same workload, same sitting.
        with (
            tempfile.TemporaryDirectory(prefix="fig-bench-") as tmp,
            bench_stack(Path(tmp), env, args.instances, cluster=True) as (stack, nodes),
        ):
            pool = await pool_of(stack, args.count, scale)
            result["process_cluster"] = await process_phase(stack, pool, args.rate, args.timeout, nodes)
        single, on_cluster = result["process"]["runs_per_s"], result["process_cluster"]["runs_per_s"]
        result["cluster_vs_single"] = round(on_cluster / single, 2) if single else None
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="opportunities per phase")
    parser.add_argument("--instances", type=int, default=2, help="process-API instances")
    parser.add_argument("--concurrency", type=int, default=16, help="work-queue consumers per instance")
    parser.add_argument("--rate", type=float, default=400.0, help="approvals offered per second")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the runs")
    parser.add_argument("--ref-concurrency", type=int, default=8)
    parser.add_argument("--no-reference", dest="reference", action="store_false")
    parser.add_argument(
        "--redis",
        choices=("single", "cluster"),
        default="single",
        help="cluster: run the process phase again on a Redis Cluster and report both",
    )
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
