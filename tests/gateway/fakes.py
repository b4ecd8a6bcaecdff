"""A fake upstream for gateway tests: echoes what reached it and misbehaves on request."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

from litestar import Litestar, Request, Response, get, route

__all__ = ["FakeUpstream"]


class FakeUpstream:
    """`/v1/...` echoes method, path, query, headers and body as JSON, and answers with headers a
    gateway must not pass on (Set-Cookie, Server, X-Internal) plus an absolute Location.

    Query flags: `delay=<s>` sleeps first; `tag=<t>` counts hits per tag (`hits[t]`);
    `hold=1` (with `tag`) keeps the request until the test calls `release(t)` (a forced interleaving);
    `size=<n>` answers with an n-byte body instead of the echo; `status=<n>` answers with that status;
    `fail=<n>` (with `tag`) answers the tag's first n hits 503 with `Retry-After: 1`, as a service
    whose dependency is down.
    """

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.base = ""
        self._held: dict[str, threading.Event] = {}

    def release(self, tag: str) -> None:
        """Let the requests of `tag` held with `hold=1` go on."""
        self._held.setdefault(tag, threading.Event()).set()

    def app(self) -> Litestar:
        @route(
            ["/v1/{rest:path}", "/v2/{rest:path}", "/v3/{rest:path}"],
            http_method=["GET", "POST", "PUT", "DELETE"],
            operation_id="echo",
        )
        async def echo(request: Request[Any, Any, Any]) -> Response[Any]:
            query = request.query_params
            if "tag" in query:
                self.hits[query["tag"]] += 1
            if "fail" in query and self.hits[query.get("tag", "")] <= int(query["fail"]):
                problem = {"type": "about:blank", "title": "Downstream unavailable", "status": 503}
                return Response(
                    content=problem,
                    status_code=503,
                    media_type="application/problem+json",
                    headers={"Retry-After": "1"},
                )
            if "hold" in query:
                held = self._held.setdefault(query["tag"], threading.Event())
                await asyncio.to_thread(held.wait, 30.0)
            if "delay" in query:
                await asyncio.sleep(float(query["delay"]))
            headers = {
                "Set-Cookie": "session=upstream-secret; Path=/",
                "X-Internal": "do-not-leak",
                "Location": f"{self.base}/v1/quote-to-cash/runs/r-1",
                "Cache-Control": "no-store",
            }
            if "size" in query:
                return Response(
                    content=b"x" * int(query["size"]),
                    status_code=200,
                    media_type="application/octet-stream",
                    headers=headers,
                )
            body = await request.body()
            echoed = {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in request.scope["headers"]],
                "body": body.decode(),
            }
            status = int(query["status"]) if "status" in query else 201 if request.method == "POST" else 200
            return Response(content=echoed, status_code=status, headers=headers)

        @get("/health/live", operation_id="live", sync_to_thread=False)
        def live() -> dict[str, str]:
            return {"status": "ok"}

        return Litestar([echo, live])
