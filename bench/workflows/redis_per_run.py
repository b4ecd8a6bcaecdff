"""Redis commands per quote-to-cash run issued by the process API alone (fake system APIs over HTTP).

The stack-level figure in `run.py` counts every service (CRM and ERP feeds, idempotency records,
the sandboxes' own state); this one isolates the engine: run store, outbox relay, work queue,
event consumers, exceptions, counters, forecast batching.

    .venv/bin/python -m bench.workflows.redis_per_run --count 200
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path
from typing import Any

import redis as redis_sync
from litestar.testing import AsyncTestClient

from contracts import SALES_ORDER_BOOKED, new_event
from contracts.streams import ERP_EVENTS
from process_apis import create_app
from servicekit import StreamPublisher, connect_redis
from servicekit.redis import EmbeddedRedis
from tests.process_apis.fake_systems import serve_systems
from tests.process_apis.fakes import opportunity
from tests.process_apis.support import settings_for


async def measure(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(Path(tmp)) as server, serve_systems() as systems:
        deals = [opportunity(f"0068d0000{n:05d}RAAA", account_id=f"0018d0000{n:05d}RAAA") for n in range(count)]
        systems.reset(*deals)
        stats = redis_sync.Redis.from_url(server.url)
        redis = connect_redis(server.url)
        settings = settings_for(systems, server.url, stream_block=0.05, forecast_window=0.2)
        async with AsyncTestClient(create_app(settings)) as client:
            before = int(stats.info("stats")["total_commands_processed"])
            reads = 0  # API reads while waiting: one Redis GET each, not engine work
            for deal in deals:
                await client.post("/v1/quote-to-cash/runs", json={"opportunity_id": deal.id})
            for deal in deals:
                while (await client.get(f"/v1/quote-to-cash/runs/q2c-{deal.id}")).json()["state"] != "order_created":
                    reads += 1
                    await asyncio.sleep(0.05)
                reads += 1
            for deal in deals:
                order = systems.book(f"SF-{deal.id}")
                event = new_event(source="bench", type=SALES_ORDER_BOOKED,
                                  data={"sales_order_id": order.id, "external_id": f"SF-{deal.id}"})  # fmt: skip
                await StreamPublisher(redis, ERP_EVENTS).publish(event)
            for deal in deals:
                while (await client.get(f"/v1/quote-to-cash/runs/q2c-{deal.id}")).json()["state"] != "completed":
                    reads += 1
                    await asyncio.sleep(0.05)
                reads += 1
            total = int(stats.info("stats")["total_commands_processed"]) - before
        await redis.aclose()
        engine = total - reads - count  # minus the API reads and the booked events' XADDs
        return {
            "runs": count,
            "redis_commands": total,
            "api_reads": reads,
            "engine_commands_per_run": round(engine / count, 1),
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    print(asyncio.run(measure(parser.parse_args().count)))
