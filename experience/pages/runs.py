"""Run explorer: find a run by run id, opportunity or correlation id, and show its whole path."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from urllib.parse import quote

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from experience.api import ApiAnswer, ApiClient
from experience.auth import SignedIn
from experience.pages.render import page

__all__ = ["gate_durations", "run_page", "runs_page"]


async def _find(api: ApiClient, token: str, query: str) -> str | None:
    """The id of the run `query` names: a run id, an opportunity (its quote-to-cash run) or the
    correlation id of one of the person's exceptions."""
    for candidate in (query, f"q2c-{query}"):
        if (await _run(api, token, candidate)).ok:
            return candidate
    exceptions = await api.get("/v1/exceptions", token, {"limit": "200"})
    if exceptions.ok:
        for item in exceptions.body.get("items", []):
            if item.get("correlation_id") == query:
                return str(item["run_id"])
    return None


async def _run(api: ApiClient, token: str, run_id: FromPath[str]) -> ApiAnswer:
    path = quote(run_id, safe="")
    if run_id.startswith("q2c-"):
        return await api.get(f"/v1/quote-to-cash/runs/{path}", token)
    return await api.get(f"/v1/workflow-runs/{path}", token)


@get("/runs", include_in_schema=False)
async def runs_page(
    state: State, who: NamedDependency[SignedIn], q: FromQuery[str | None] = None
) -> Template | Redirect:
    """The search form; a match opens the run, no match says so."""
    query = (q or "").strip()
    if query:
        found = await _find(state.api, who.token, query)
        if found is not None:
            return Redirect(f"/runs/{quote(found, safe='')}", status_code=303)
    return page("runs.html", who, active="/runs", title="Run explorer", q=query, missing=bool(query))


def gate_durations(gates: list[dict[str, Any]]) -> list[str]:
    """For each gate, the time since the gate before it ("" for the first): how long the step took,
    its system calls included, or how long the run waited (for a booking, a person, a retry)."""
    times = [datetime.fromisoformat(str(g["at"])) for g in gates]
    shown = [""]
    for before, after in itertools.pairwise(times):
        ms = (after - before).total_seconds() * 1000
        if ms < 10_000:
            shown.append(f"{ms:.0f} ms")
        elif ms < 600_000:
            shown.append(f"{ms / 1000:.1f} s")
        else:
            shown.append(f"{ms / 60_000:.0f} min")
    return shown


@get("/runs/{run_id:str}", include_in_schema=False)
async def run_page(state: State, who: NamedDependency[SignedIn], run_id: FromPath[str]) -> Template:
    """One run: gates in order, controls versions, postings, its exceptions and its trace reference."""
    api: ApiClient = state.api
    answer = await _run(api, who.token, run_id)
    run: dict[str, Any] | None = answer.body if answer.ok else None
    exceptions: list[dict[str, Any]] = []
    if run is not None:
        listed = await api.get("/v1/exceptions", who.token, {"limit": "200"})
        if listed.ok:
            exceptions = [i for i in listed.body.get("items", []) if i.get("run_id") == run_id]
    return page(
        "run.html",
        who,
        elapsed=gate_durations(run["gates"]) if run is not None and run.get("gates") else [],
        active="/runs",
        title=f"Run {run_id}",
        status=200 if answer.ok else answer.status,
        run_id=run_id,
        answer=answer,
        run=run,
        exceptions=exceptions,
    )
