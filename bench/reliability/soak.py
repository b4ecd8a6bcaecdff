"""Soak: the fault suite's SIGKILL scenarios (tests/reliability/scenarios.py) repeated for `--minutes`.

Starts the whole stack once (every service its own process, two process-API instances, the
defaults for leases and claims unless `--lock-ttl` / `--claim-idle` say otherwise), then alternates
rounds until the time is up:

- **process**: `--deals` runs started across the two instances while `--kills` SIGKILLs hit a
  seeded random instance at seeded random moments (each killed instance is started again);
- **redis**: `--deals` starts through the gateway by 6 clients honouring `Retry-After`, while
  Redis is SIGKILLed and restarted `--redis-down` s later on the same data.

Each round prints one JSON line (its report: answers by status, lost acknowledgements, deals not
settled or with more than one effect, time to settle); the last line is the totals. Exit status 1
if any round broke a guarantee.

    .venv/bin/python -m bench.reliability.soak --minutes 30 --deals 60
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from tests.reliability.scenarios import kill_process_instances, kill_redis_under_load
from tests.reliability.stackrig import Rig, open_rig

#: Clean seeded opportunities one round uses at most, per minute of soak (a round takes 30-60 s).
ROUNDS_PER_MINUTE = 2


def broken(report: dict[str, Any]) -> bool:
    """Whether a round's report shows a broken guarantee."""
    keys = ("not_settled", "not_one_effect", "lost", "bad_answers", "never_acknowledged")
    return any(report.get(k) for k in keys)


async def soak(rig: Rig, args: argparse.Namespace) -> dict[str, Any]:
    ends = time.monotonic() + args.minutes * 60
    totals: dict[str, Any] = {"rounds": 0, "broken_rounds": 0, "deals": 0, "kills": 0, "redis_kills": 0}
    worst: dict[str, float] = {"settle_after_last_kill_s": 0.0, "settle_after_restart_s": 0.0}
    seed = args.seed
    while time.monotonic() < ends and len(rig.pool) >= args.deals:
        seed += 1
        if totals["rounds"] % 2 == 0:
            process = await kill_process_instances(
                rig, deals=args.deals, kills=args.kills, seed=seed, within=args.within
            )
            report = {"scenario": "process", **process.as_dict()}
            totals["kills"] += len(process.kills)
            key = "settle_after_last_kill_s"
        else:
            redis = await kill_redis_under_load(
                rig, deals=args.deals, seed=seed, down_for=args.redis_down, within=args.within
            )
            report = {"scenario": "redis", **redis.as_dict()}
            totals["redis_kills"] += 1
            key = "settle_after_restart_s"
        worst[key] = max(worst[key], float(report[key]))
        totals["rounds"] += 1
        totals["deals"] += args.deals
        totals["broken_rounds"] += broken(report)
        print(json.dumps(report), flush=True)
    return {"totals": totals, "worst": worst}


def main(args: argparse.Namespace) -> int:
    deals = args.deals * max(2, math.ceil(args.minutes * ROUNDS_PER_MINUTE))
    env = {"FIG_LOCK_TTL": str(args.lock_ttl), "FIG_CLAIM_IDLE": str(args.claim_idle)}
    with tempfile.TemporaryDirectory(prefix="fig-soak-") as tmp, open_rig(Path(tmp), deals=deals, env=env) as rig:
        result = uvloop.run(soak(rig, args))
    print(json.dumps(result), flush=True)
    return 1 if result["totals"]["broken_rounds"] else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to keep starting rounds")
    parser.add_argument("--deals", type=int, default=60, help="deals per round")
    parser.add_argument("--kills", type=int, default=5, help="process-instance SIGKILLs per process round")
    parser.add_argument("--redis-down", type=float, default=3.0, help="seconds Redis stays dead per redis round")
    parser.add_argument("--within", type=float, default=180.0, help="seconds a round's deals may take to settle")
    parser.add_argument("--seed", type=int, default=15000, help="first round's seed (each round adds one)")
    parser.add_argument("--lock-ttl", type=float, default=6.0, help="FIG_LOCK_TTL of the process API")
    parser.add_argument("--claim-idle", type=float, default=5.0, help="FIG_CLAIM_IDLE of the process API")
    sys.exit(main(parser.parse_args()))
