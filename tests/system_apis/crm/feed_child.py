"""The CRM change feeds in a process of their own, for the crash test (killed with SIGKILL).

    python -m tests.system_apis.crm.feed_child <salesforce url> <redis url> <since ISO> <batch>

Builds the connector and the feeds exactly as the service's lifespan does (`build_reader`,
`build_feeds`) and polls until killed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from servicekit.redis import connect_redis
from system_apis.crm import CrmSettings
from system_apis.crm.app import build_feeds, build_reader
from system_apis.crm.feed import run_feeds


async def main(sandbox: str, redis_url: str, since: str, batch: int) -> None:
    settings = CrmSettings(
        sandbox_url=sandbox, redis_url=redis_url, feed_interval=0.02, feed_batch=batch, feed_accounts=False
    )
    http, reader = build_reader(settings)
    redis = connect_redis(redis_url)
    try:
        await run_feeds(build_feeds(settings, reader, redis, datetime.fromisoformat(since)), 0.02, asyncio.Event())
    finally:
        await http.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
