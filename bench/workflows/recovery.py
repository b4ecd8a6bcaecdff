"""Time to recover after a process-API instance is SIGKILLed in the middle of quote-to-cash runs.

Starts the whole stack (`deploy.stack.Stack`) with `--instances` process-API instances, approves
`--count` seeded opportunities at once (the CRM feed's approval events start the runs, an "ERP
user" books every order as it appears, as in `bench.workflows.run`), with every NetSuite sales-order
write slowed by `--erp-latency-ms` (a sandbox latency fault) so the runs are in the middle of a
step, holding their leases, when one instance's whole process group is SIGKILLed `--kill-after`
seconds after the approvals; then waits until every run is completed.
The killed instance stays dead: what is measured is how fast the survivors take over its leases,
its pending work and its events.

Reports, for the runs in flight at the kill (received before it, completed after it), how long
after the kill each completed (p50 / max: the worst is the time to recover), and the same for all
runs from their approval.

    .venv/bin/python -m bench.workflows.recovery --count 40 --instances 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop

from bench.workflows.run import candidates, erp_approver, pct, spawn_process_instance
from deploy.demo import fetch_token
from deploy.services import SERVICES
from deploy.stack import Stack
from servicekit.redis import free_port, free_ports


def _gate(run: dict[str, Any], gate: str) -> float | None:
    at = next((g["at"] for g in run["gates"] if g["gate"] == gate), None)
    return datetime.fromisoformat(at).timestamp() if at else None


async def measure(
    stack: Stack, chosen: list[str], kill_after: float, within: float, erp_latency_ms: int
) -> dict[str, Any]:
    idp = stack.url("idp")
    system = fetch_token(idp, "process-api", "process-api-secret", scope="erp:read")
    demo = fetch_token(idp, "demo", "demo-secret", scope="q2c:read ops:read")
    victim = next(p for p in stack.processes if p.spec.name == "process")
    stop = asyncio.Event()
    booked: set[str] = set()
    async with (
        httpx.AsyncClient(headers={"Authorization": f"Bearer {system}"}, timeout=60) as sys_client,
        httpx.AsyncClient(headers={"Authorization": f"Bearer {demo}"}, timeout=60) as api,
    ):
        netsuite = stack.url("netsuite-sandbox")
        if erp_latency_ms:
            fault = {
                "match": "PUT */salesOrder/*",
                "kind": "latency",
                "count": len(chosen),
                "latency_ms": erp_latency_ms,
            }
            (await sys_client.post(f"{netsuite}/__admin/faults", json=fault)).raise_for_status()
        approver = asyncio.create_task(erp_approver(sys_client, netsuite, stop, booked))
        approved = time.time()
        (await sys_client.post(f"{stack.url('salesforce-sandbox')}/__admin/opportunities/close-won",
                               json={"ids": chosen})).raise_for_status()  # fmt: skip
        await asyncio.sleep(kill_after)
        os.killpg(victim.popen.pid, signal.SIGKILL)
        killed = time.time()
        # Any surviving instance answers; ask the first one that is not the victim.
        survivor = next(p for p in stack.processes if p.spec.name == "process" and p is not victim)
        runs: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            replies = await asyncio.gather(*(api.get(f"{survivor.url}/v1/quote-to-cash/runs/q2c-{o}") for o in chosen))
            runs = {o: r.json() for o, r in zip(chosen, replies, strict=True) if r.status_code == 200}
            if len(runs) == len(chosen) and all(r["state"] in ("completed", "failed") for r in runs.values()):
                break
        stop.set()
        await approver
    done = {o: _gate(r, "completed") for o, r in runs.items() if r["state"] == "completed"}
    in_flight = [
        end - killed
        for o, end in done.items()
        if end is not None and end > killed and (_gate(runs[o], "received") or math.inf) < killed
    ]
    overall = [end - approved for end in done.values() if end is not None]
    slowest = max(runs.values(), key=lambda r: _gate(r, "completed") or math.inf, default=None)
    return {
        "runs": len(chosen),
        "completed": len(done),
        "not_finished": len(chosen) - len(done),
        "in_flight_at_kill": len(in_flight),
        "kill_to_completion_s": {"p50": round(pct(in_flight, 0.5), 2), "max": round(max(in_flight, default=0.0), 2)},
        "approval_to_completion_s": {"p50": round(pct(overall, 0.5), 2), "max": round(max(overall, default=0.0), 2)},
        # Where the slowest run spent its time: each gate, seconds after the kill, and who passed it.
        "slowest_run_gates": [
            (g["gate"], round(datetime.fromisoformat(g["at"]).timestamp() - killed, 2), g["actor"])
            for g in (slowest or {}).get("gates", [])
        ],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.instances < 2:
        raise SystemExit("--instances must be at least 2 (one is killed)")
    scale = max(1, math.ceil(args.count * 2 / 130))
    ports = dict(zip((spec.name for spec in SERVICES), free_ports(len(SERVICES)), strict=True))
    env = {"FIG_SCALE": str(scale), "FIG_LOG_LEVEL": "WARNING"}
    with (
        tempfile.TemporaryDirectory(prefix="fig-recovery-") as tmp,
        Stack(Path(tmp), ports=ports, extra_env=env) as stack,
    ):
        for n in range(1, args.instances):
            spawn_process_instance(stack, free_port(), f"process-{n + 1}")
        token = fetch_token(stack.url("idp"), "process-api", "process-api-secret", scope="crm:read")
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
            pool = await candidates(client, stack.url("crm"), args.count)
        chosen = [o["id"] for o in pool[: args.count]]
        result: dict[str, Any] = {"count": args.count, "instances": args.instances, "kill_after_s": args.kill_after}
        result["erp_latency_ms"] = args.erp_latency_ms
        result["recovery"] = await measure(stack, chosen, args.kill_after, args.timeout, args.erp_latency_ms)
        return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=40, help="opportunities approved at once")
    parser.add_argument("--instances", type=int, default=2, help="process-API instances (one is killed)")
    parser.add_argument("--kill-after", type=float, default=1.0, help="seconds after the approvals")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the runs")
    parser.add_argument("--erp-latency-ms", type=int, default=3000, help="latency of each sales-order write")
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
