"""Exception queue: filter, open one with its history, and act on it (retry, resolve, assign, dead-letter).

What a person may do is decided by the API for their token; the page offers actions only to
people whose token has `exceptions:write`, and shows the API's refusal when it says no.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from experience.api import ApiClient
from experience.auth import SignedIn
from experience.csrf import checked_form
from experience.pages.render import page

__all__ = ["ACTIONS", "exception_action", "exception_page", "exceptions_page"]

STATUSES = ("open", "retrying", "resolved", "dead_lettered")
SEVERITIES = ("low", "medium", "high", "critical")
#: action -> (label, fields the API's body takes from the form, notice after success)
ACTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "retry": ("Retry", ("note",), "Retry requested."),
    "resolve": ("Resolve", ("note",), "Resolved."),
    "assign": ("Assign", ("owner_team", "note"), "Assigned."),
    "dead-letter": ("Dead-letter", ("note",), "Dead-lettered."),
}


@get("/exceptions", include_in_schema=False)
async def exceptions_page(
    state: State,
    who: NamedDependency[SignedIn],
    *,
    entity: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
    reason: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    severity: FromQuery[str | None] = None,
) -> Template:
    """The queue, filtered by entity, owner team, status and severity (by the API) and reason (here)."""
    api: ApiClient = state.api
    filters = {"entity": entity, "owner": owner, "status": status, "severity": severity}
    params = {k: v for k, v in filters.items() if v}
    answer = await api.get("/v1/exceptions", who.token, {**params, "limit": "200"})
    items: list[dict[str, Any]] = answer.body.get("items", []) if answer.ok else []
    if reason:
        items = [i for i in items if reason.lower() in str(i.get("reason_code", "")).lower()]
    return page(
        "exceptions.html",
        who,
        active="/exceptions",
        title="Exception queue",
        answer=answer,
        items=items,
        filters={**filters, "reason": reason},
        statuses=STATUSES,
        severities=SEVERITIES,
    )


@get("/exceptions/{exception_id:str}", include_in_schema=False)
async def exception_page(
    state: State, who: NamedDependency[SignedIn], exception_id: FromPath[str], done: FromQuery[str | None] = None
) -> Template:
    """One exception: what failed, its history, and the actions the person may take."""
    api: ApiClient = state.api
    answer = await api.get(f"/v1/exceptions/{quote(exception_id, safe='')}", who.token)
    notice = ACTIONS[done][2] if done in ACTIONS else None
    return page(
        "exception.html",
        who,
        active="/exceptions",
        title=f"Exception {exception_id}",
        status=200 if answer.ok else answer.status,
        exception_id=exception_id,
        answer=answer,
        record=answer.body if answer.ok else None,
        actions=ACTIONS,
        notice=notice,
        error=None,
    )


@post("/exceptions/{exception_id:str}/{action:str}", include_in_schema=False, status_code=303)
async def exception_action(
    request: Request[Any, Any, Any],
    state: State,
    who: NamedDependency[SignedIn],
    exception_id: FromPath[str],
    action: FromPath[str],
) -> Redirect | Template:
    """Send one action to the API; on success back to the exception, else the page with the refusal."""
    form = await checked_form(request, who, state.settings)
    api: ApiClient = state.api
    path = f"/v1/exceptions/{quote(exception_id, safe='')}"
    if action not in ACTIONS:
        return Redirect(path.replace("/v1", "", 1), status_code=303)
    body = {field: form[field] for field in ACTIONS[action][1] if form.get(field)}
    answer = await api.post(f"{path}/{action}", who.token, body)
    if answer.ok:
        return Redirect(f"/exceptions/{quote(exception_id, safe='')}?done={action}", status_code=303)
    current = await api.get(path, who.token)
    return page(
        "exception.html",
        who,
        active="/exceptions",
        title=f"Exception {exception_id}",
        status=answer.status,
        exception_id=exception_id,
        answer=current,
        record=current.body if current.ok else None,
        actions=ACTIONS,
        notice=None,
        error=f"{ACTIONS[action][0]} refused: {answer.detail}",
    )
