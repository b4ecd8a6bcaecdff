"""Child process of the crash test: runs the booked-order feed until it is killed (or kills itself).

    python -m tests.system_apis.erp.feed_child <sandbox url> <redis url> <since ISO> <page size> [crash at]

With `crash at` = N > 0 the process SIGKILLs itself while building the N-th page's transaction:
after that page's XADDs are queued and before its watermark SET and EXEC, the exact point where a
feed that published and then moved its watermark in two steps would lose or repeat events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import datetime
from typing import Any

import httpx

from servicekit.redis import connect_redis
from system_apis.erp.connector import NetSuiteClient, NetSuiteTokens
from system_apis.erp.connector.auth import TOKEN_PATH
from system_apis.erp.devkey import DEV_CLIENT_ID, DEV_KEY_ID, dev_private_key
from system_apis.erp.feed import WATERMARK_KEY, SalesOrderFeed

__all__ = ["main"]


def _crash_on_watermark(redis: Any, crash_at: int) -> None:
    """Make the `crash_at`-th queued watermark SET kill this process instead."""
    original = redis.pipeline
    seen = 0

    def pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = original(*args, **kwargs)
        queue_set = pipe.set

        def set_(key: str, *rest: Any, **options: Any) -> Any:
            nonlocal seen
            if key == WATERMARK_KEY:
                seen += 1
                if seen == crash_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return queue_set(key, *rest, **options)

        pipe.set = set_
        return pipe

    redis.pipeline = pipeline


async def main(sandbox: str, redis_url: str, since: datetime, page_size: int, crash_at: int) -> None:
    redis = connect_redis(redis_url)
    if crash_at:
        _crash_on_watermark(redis, crash_at)
    async with httpx.AsyncClient(base_url=sandbox, timeout=30) as http:
        tokens = NetSuiteTokens(
            http, token_url=sandbox + TOKEN_PATH, client_id=DEV_CLIENT_ID, key_id=DEV_KEY_ID, key=dev_private_key()
        )
        client = NetSuiteClient(http, tokens, backoff=0.01, max_backoff=0.05)
        feed = SalesOrderFeed(client, redis, initial_since=since, lag=0.0, page_size=page_size)
        await feed.run(asyncio.Event(), interval=0.02)


if __name__ == "__main__":
    url, redis_url, since, size, *crash = sys.argv[1:]
    asyncio.run(main(url, redis_url, datetime.fromisoformat(since), int(size), int(crash[0]) if crash else 0))
