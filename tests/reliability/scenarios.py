"""Fault scenarios on the whole stack, parameterised by size: the CI suite runs them small, the soak large.

- `kill_process_instances`: deals are started across two process-API instances while instances
  are SIGKILLed (process group, no shutdown) at seeded random moments and started again; then every
  deal must settle (completed, or an exception a person sees) with one ERP order and one planning
  row per line.
- `kill_redis_under_load`: clients start deals through the gateway, each retrying with its own
  Idempotency-Key as told by `Retry-After`, while Redis is SIGKILLed and restarted on the same data
  directory (its append-only file replayed); every acknowledged start must still exist, every
  answer must be an acknowledgement or a problem+json 503/409 with `Retry-After`, and every deal
  must run to the end.

Each returns a report (`as_dict()` is the JSON the soak benchmark prints) and asserts nothing: the
callers decide what to assert or print.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from deploy.stack import ManagedProcess
from process_apis.schemas import TERMINAL_STATES
from tests.reliability.stackrig import RUNS, DealOutcome, Rig

__all__ = ["ProcessKillReport", "RedisKillReport", "kill_process_instances", "kill_redis_under_load"]

#: Answers a client may get while a dependency is down: told to come back (`Retry-After`), never a 500.
RETRY_STATUSES = frozenset({409, 503})


def _summary(outcomes: list[DealOutcome]) -> dict[str, Any]:
    return {
        "deals": len(outcomes),
        "completed": sum(o.state == "completed" for o in outcomes),
        "exceptions": sum(o.state != "completed" and o.settled for o in outcomes),
        "not_settled": [o.opportunity_id for o in outcomes if not o.settled],
        "not_one_effect": [o.opportunity_id for o in outcomes if not o.one_effect],
        "erp_orders": sum(len(o.orders) for o in outcomes),
        "planning_rows": sum(len(o.cells) for o in outcomes),
    }


@dataclass
class ProcessKillReport:
    seed: int
    #: Seconds after the first start at which an instance was killed, and which one.
    kills: list[tuple[float, str]]
    #: Runs started and not yet terminal at each kill (those a kill may have cut off mid-step);
    #: None when no instance could answer at that moment.
    in_flight_at_kills: list[int | None]
    #: Seconds from the last kill until every run was terminal (or the bound, if some never were).
    settle_after_last_kill_s: float
    outcomes: list[DealOutcome]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "kills": [
                {"at_s": round(t, 2), "instance": label, "runs_in_flight": n}
                for (t, label), n in zip(self.kills, self.in_flight_at_kills, strict=True)
            ],
            "settle_after_last_kill_s": round(self.settle_after_last_kill_s, 2),
            **_summary(self.outcomes),
        }


async def _start_directly(rig: Rig, client: httpx.AsyncClient, opportunity: str, rng: random.Random) -> None:
    """Start one run at a live instance, moving to another when one is dead (a load balancer's retry)."""
    body = {"opportunity_id": opportunity}
    for _ in range(200):
        live = [p for p in rig.instances if p.popen.poll() is None]
        if live:
            try:
                answer = await client.post(f"{rng.choice(live).url}{RUNS}", json=body)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code in (200, 202):
                return
            if answer is not None and answer.status_code not in RETRY_STATUSES:
                raise AssertionError(f"start of {opportunity}: {answer.status_code} {answer.text[:300]}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"start of {opportunity} never acknowledged")


async def _victim(rig: Rig, client: httpx.AsyncClient, rng: random.Random) -> ManagedProcess:
    """A seeded choice among the instances that are up and ready (one just started again may not
    be yet: killing it would hit no run), else among all."""
    ready: list[ManagedProcess] = []
    for proc in rig.instances:
        if proc.popen.poll() is None:
            try:
                if (await client.get(f"{proc.url}/health/ready", timeout=2)).status_code == 200:
                    ready.append(proc)
            except httpx.TransportError:
                pass
    return rng.choice(ready or rig.instances)


async def kill_process_instances(
    rig: Rig,
    *,
    deals: int,
    kills: int,
    seed: int,
    within: float,
    span: float | None = None,
    erp_latency_ms: int = 1500,
) -> ProcessKillReport:
    """Start `deals` runs over `span` seconds (default 0.1 s each, at least 2 s) while `kills`
    SIGKILLs hit a seeded random ready instance at seeded random moments; wait `within` s after the
    last. Every NetSuite sales-order write takes `erp_latency_ms` (a sandbox latency fault), so kills
    land while runs hold their leases in the middle of the order step, and the write of a killed
    call still reaches the vendor: its answer is lost, not the order."""
    chosen = rig.take(deals)
    ids = [str(d["id"]) for d in chosen]
    await rig.approve(ids)
    if erp_latency_ms:
        fault = {"match": "PUT */salesOrder/*", "kind": "latency", "count": deals, "latency_ms": erp_latency_ms}
        async with rig.admin() as admin:
            (await admin.post(f"{rig.url('netsuite-sandbox')}/__admin/faults", json=fault)).raise_for_status()
    rng = random.Random(seed)
    span = span if span is not None else max(2.0, deals * 0.1)
    kill_at = sorted(rng.uniform(0.2, span) for _ in range(kills))
    done: list[tuple[float, str]] = []
    started: list[str] = []
    in_flight: list[int | None] = []
    async with rig.erp_user(), rig.process_client() as client:
        began = time.monotonic()

        async def start(n: int, opportunity: str) -> None:
            await asyncio.sleep(n * span / len(ids))
            await _start_directly(rig, client, opportunity, random.Random(f"{seed}-{opportunity}"))
            started.append(opportunity)

        starts = asyncio.gather(*(start(n, o) for n, o in enumerate(ids)))
        for at in kill_at:
            await asyncio.sleep(max(0.0, began + at - time.monotonic()))
            victim = await _victim(rig, client, rng)
            runs = await rig.runs(client, list(started))
            known = runs or not started
            in_flight.append(sum(r["state"] not in TERMINAL_STATES for r in runs.values()) if known else None)
            # The whole process group, as the OOM killer or a node loss would: no shutdown code runs.
            os.killpg(victim.popen.pid, signal.SIGKILL)
            await asyncio.to_thread(victim.popen.wait)
            done.append((time.monotonic() - began, victim.log_path.stem))
            rig.stack.respawn(victim)
        await starts
        settling = time.monotonic()
        runs, took = await rig.settle(ids, within)
    outcomes = await rig.outcomes(chosen, runs)
    last_kill = began + (done[-1][0] if done else 0.0)
    return ProcessKillReport(
        seed=seed,
        kills=done,
        in_flight_at_kills=in_flight,
        settle_after_last_kill_s=settling + took - last_kill,
        outcomes=outcomes,
    )


@dataclass
class RedisKillReport:
    seed: int
    down_s: float
    #: Every answer the clients got, by status (and problem type for refusals).
    answers: Counter[str] = field(default_factory=Counter)
    #: Answers that break the promise: a 5xx other than 503, or a refusal without `Retry-After`.
    bad_answers: list[str] = field(default_factory=list)
    acknowledged: int = 0
    #: Acknowledged starts whose run did not exist afterwards.
    lost: list[str] = field(default_factory=list)
    never_acknowledged: list[str] = field(default_factory=list)
    settle_after_restart_s: float = 0.0
    outcomes: list[DealOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "redis_down_s": round(self.down_s, 2),
            "answers": dict(sorted(self.answers.items())),
            "bad_answers": self.bad_answers[:20],
            "acknowledged": self.acknowledged,
            "lost": self.lost,
            "never_acknowledged": self.never_acknowledged,
            "settle_after_restart_s": round(self.settle_after_restart_s, 2),
            **_summary(self.outcomes),
        }


def _judge(report: RedisKillReport, answer: httpx.Response) -> float | None:
    """Record one answer; None when it acknowledged the start, else the seconds to wait before retrying."""
    status = answer.status_code
    if status in (200, 202):
        report.answers[str(status)] += 1
        return None
    problem = answer.headers.get("content-type", "").startswith("application/problem+json")
    kind = str(answer.json().get("type", "")).rsplit("/", 1)[-1] if problem else "not-problem-json"
    report.answers[f"{status} {kind}"] += 1
    retry_after = answer.headers.get("retry-after", "")
    if status not in RETRY_STATUSES or not problem or not retry_after.isdigit():
        report.bad_answers.append(f"{status} {kind} retry-after={retry_after!r}: {answer.text[:200]}")
        return 1.0
    return float(retry_after)


async def kill_redis_under_load(
    rig: Rig, *, deals: int, seed: int, down_for: float, within: float, clients: int = 6
) -> RedisKillReport:
    """`clients` clients start `deals` deals through the gateway (one Idempotency-Key per deal, kept
    for its retries) while Redis is SIGKILLed at a seeded moment and restarted `down_for` s later."""
    chosen = rig.take(deals)
    ids = [str(d["id"]) for d in chosen]
    await rig.approve(ids)
    rng = random.Random(seed)
    kill_at = rng.uniform(0.3, 1.0)
    report = RedisKillReport(seed=seed, down_s=down_for)
    acknowledged: set[str] = set()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for opportunity in ids:
        queue.put_nowait(opportunity)
    deadline = time.monotonic() + within

    async def client_loop(gateway: httpx.AsyncClient) -> None:
        while not queue.empty():
            opportunity = queue.get_nowait()
            key = f"start-{opportunity}-{uuid.uuid4().hex}"
            while time.monotonic() < deadline:
                try:
                    answer = await gateway.post(
                        RUNS, json={"opportunity_id": opportunity}, headers={"Idempotency-Key": key}
                    )
                except httpx.TransportError as exc:
                    report.answers[f"transport {type(exc).__name__}"] += 1
                    report.bad_answers.append(f"transport error: {exc!r}")
                    await asyncio.sleep(1.0)
                    continue
                wait = _judge(report, answer)
                if wait is None:
                    acknowledged.add(opportunity)
                    break
                await asyncio.sleep(wait)
            # Paced: a client sends its next deal a little later, so the load spans the outage.
            await asyncio.sleep(0.1)

    async with rig.erp_user(), rig.gateway_client() as gateway:
        load = asyncio.gather(*(client_loop(gateway) for _ in range(clients)))
        await asyncio.sleep(kill_at)
        redis = rig.stack.redis
        if redis is None or redis.process is None:
            raise RuntimeError("the rig's stack must run its own (embedded) Redis to kill it")
        redis.process.kill()
        await asyncio.to_thread(redis.process.wait)
        await asyncio.sleep(down_for)
        await asyncio.to_thread(rig.stack.restart_redis)
        restarted = time.monotonic()
        await load
        report.acknowledged = len(acknowledged)
        report.never_acknowledged = [o for o in ids if o not in acknowledged]
        report.lost = await rig.absent(sorted(acknowledged))
        runs, _ = await rig.settle(ids, max(1.0, deadline - time.monotonic()))
        report.settle_after_restart_s = time.monotonic() - restarted
    report.outcomes = await rig.outcomes(chosen, runs)
    return report
