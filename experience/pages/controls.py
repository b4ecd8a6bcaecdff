"""Controls: the active mapping and rule-set versions, and pending proposals to approve or reject.

Approving applies the change; the API refuses a person's own proposal (four eyes) and says why.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from experience.api import ApiClient, submission_key
from experience.auth import SignedIn
from experience.csrf import checked_form
from experience.pages.render import page

__all__ = ["controls_page", "decide_proposal", "propose_region_change"]

MAPPING, RULES = "default", "quote-to-cash"
_DONE = {"approve": "Proposal approved.", "reject": "Proposal rejected.", "propose": "Change proposed."}


async def _render(
    state: State,
    who: SignedIn,
    *,
    notice: str | None,
    error: str | None,
    status: int = 200,
    diff: tuple[str, str] | None = None,
) -> Template:
    api: ApiClient = state.api
    mapping, rules, proposals = await asyncio.gather(
        api.get(f"/v1/mappings/{MAPPING}", who.token),
        api.get(f"/v1/rules/{RULES}/versions", who.token),
        api.get("/v1/proposals", who.token, {"status": "pending"}),
    )
    compared = None
    if diff is not None:
        params = {"from_version": diff[0], "to_version": diff[1]}
        compared = await api.get(f"/v1/rules/{RULES}/diff", who.token, params)
    return page(
        "controls.html",
        who,
        active="/controls",
        title="Controls",
        status=status,
        mapping=mapping,
        rules=rules,
        proposals=proposals,
        compared=compared,
        diff=diff or ("", ""),
        notice=notice,
        error=error,
    )


@get("/controls", include_in_schema=False)
async def controls_page(
    state: State,
    who: NamedDependency[SignedIn],
    done: FromQuery[str | None] = None,
    from_version: FromQuery[str | None] = None,
    to_version: FromQuery[str | None] = None,
) -> Template:
    """The controls; with `from_version` and `to_version`, the rule-set diff between them."""
    diff = (from_version, to_version) if from_version and to_version else None
    return await _render(state, who, notice=_DONE.get(done or ""), error=None, diff=diff)


@post("/controls/region-proposals", include_in_schema=False, status_code=303)
async def propose_region_change(
    request: Request[Any, Any, Any], state: State, who: NamedDependency[SignedIn]
) -> Redirect | Template:
    """Propose the active mapping set with one region's currencies changed; a second person approves it."""
    form = await checked_form(request, who, state.settings)
    api: ApiClient = state.api
    current = await api.get(f"/v1/mappings/{MAPPING}", who.token)
    if not current.ok:
        return await _render(
            state, who, notice=None, error=f"Proposal refused: {current.detail}", status=current.status
        )
    mapping = current.body["mapping"]
    region = form.get("region", "")
    if region not in mapping["regions"]:
        return await _render(state, who, notice=None, error=f"There is no region {region!r}.", status=400)
    currencies = [c.strip().upper() for c in form.get("currencies", "").split(",") if c.strip()]
    regions = {**mapping["regions"], region: {**mapping["regions"][region], "currencies": currencies}}
    body = {"description": form.get("description", ""), "products": mapping["products"], "regions": regions}
    answer = await api.post(f"/v1/mappings/{MAPPING}/proposals", who.token, body, key=submission_key(form, "propose"))
    if answer.ok:
        return Redirect("/controls?done=propose", status_code=303)
    return await _render(state, who, notice=None, error=f"Proposal refused: {answer.detail}", status=answer.status)


@post("/proposals/{proposal_id:str}/{decision:str}", include_in_schema=False, status_code=303)
async def decide_proposal(
    request: Request[Any, Any, Any],
    state: State,
    who: NamedDependency[SignedIn],
    proposal_id: FromPath[str],
    decision: FromPath[str],
) -> Redirect | Template:
    """Approve or reject one proposal; the API's refusal (own proposal, stale, decided) is shown."""
    form = await checked_form(request, who, state.settings)
    if decision not in _DONE:
        return Redirect("/controls", status_code=303)
    api: ApiClient = state.api
    body: dict[str, Any] = {"note": form["note"]} if form.get("note") else {}
    if decision == "reject" and "note" not in body:
        body["note"] = "rejected in the console"
    key = submission_key(form, decision, proposal_id)
    answer = await api.post(f"/v1/proposals/{quote(proposal_id, safe='')}/{decision}", who.token, body, key=key)
    if answer.ok:
        return Redirect(f"/controls?done={decision}", status_code=303)
    return await _render(
        state, who, notice=None, error=f"{decision.title()} refused: {answer.detail}", status=answer.status
    )
