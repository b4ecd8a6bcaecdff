"""Exception queue: filter, open one with its history, and act on it (retry, resolve, assign, dead-letter).

What a person may do is decided by the API for their token; the page offers actions only to
people whose token has `exceptions:write`, and shows the API's refusal when it says no.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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

__all__ = ["ACTIONS", "bulk_retry", "exception_action", "exception_page", "exceptions_page"]

#: Most exceptions one bulk retry sends (one API call each).
BULK_LIMIT = 50

STATUSES = ("open", "retrying", "resolved", "dead_lettered")
SEVERITIES = ("low", "medium", "high", "critical")
#: action -> (label, fields the API's body takes from the form, notice after success)
ACTIONS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "retry": ("Retry", ("note",), "Retry requested."),
    "resolve": ("Resolve", ("note",), "Resolved."),
    "assign": ("Assign", ("owner_team", "note"), "Assigned."),
    "dead-letter": ("Dead-letter", ("note",), "Dead-lettered."),
    # Four eyes: the outcome waits on the Controls page for a second person's approval.
    "proposals": ("Propose an outcome", ("outcome", "note"), "Outcome proposed: a second person decides it."),
}


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _narrowed(
    items: list[dict[str, Any]], *, reason: str | None, sla: str | None, older_than_hours: str | None
) -> list[dict[str, Any]]:
    """The filters the API does not offer, applied to the page it answered: reason (substring),
    SLA breached (still open past `sla_due_at`) and age (created more than N hours ago)."""
    now = datetime.now(UTC)
    if reason:
        items = [i for i in items if reason.lower() in str(i.get("reason_code", "")).lower()]
    if sla == "breached":
        items = [
            i
            for i in items
            if i.get("status") in ("open", "retrying") and (due := _when(i.get("sla_due_at"))) is not None and due < now
        ]
    if older_than_hours and older_than_hours.isdigit():
        limit = now - timedelta(hours=int(older_than_hours))
        items = [i for i in items if (created := _when(i.get("created_at"))) is not None and created < limit]
    return items


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
    sla: FromQuery[str | None] = None,
    older_than_hours: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    """The queue, filtered by entity, owner team, status and severity (by the API), and reason, SLA
    breach and age (here, on the page the API answered); 200 a page, `cursor` for the next."""
    api: ApiClient = state.api
    by_api = {"entity": entity, "owner": owner, "status": status, "severity": severity}
    chosen = {**by_api, "reason": reason, "sla": sla, "older_than_hours": older_than_hours}
    params = {k: v for k, v in by_api.items() if v} | {"limit": "200"} | ({"cursor": cursor} if cursor else {})
    answer = await api.get("/v1/exceptions", who.token, params)
    items: list[dict[str, Any]] = answer.body.get("items", []) if answer.ok else []
    items = _narrowed(items, reason=reason, sla=sla, older_than_hours=older_than_hours)
    next_cursor = answer.body.get("next_cursor") if answer.ok else None
    return page(
        "exceptions.html",
        who,
        active="/exceptions",
        title="Exception queue",
        answer=answer,
        items=items,
        filters=chosen,
        next_query={k: v for k, v in chosen.items() if v} | {"cursor": next_cursor} if next_cursor else None,
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
    answer = await api.post(f"{path}/{action}", who.token, body, key=submission_key(form, action, exception_id))
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


@post("/exceptions/bulk-retry", include_in_schema=False, status_code=200)
async def bulk_retry(request: Request[Any, Any, Any], state: State, who: NamedDependency[SignedIn]) -> Template:
    """Retry the exceptions listed in the form (the filtered queue), once the person ticked the
    confirmation; each one through the API, each result shown."""
    form = await checked_form(request, who, state.settings)
    api: ApiClient = state.api
    ids = [i for i in (await request.form()).getall("exception_id", []) if isinstance(i, str)][:BULK_LIMIT]
    results: list[tuple[str, str]] = []
    if form.get("confirm") != "yes":
        error: str | None = "Tick the confirmation to retry these exceptions: nothing was sent."
    else:
        error = None
        body = {"note": form["note"]} if form.get("note") else {}
        for exception_id in ids:
            key = submission_key(form, "retry", exception_id)
            answer = await api.post(f"/v1/exceptions/{quote(exception_id, safe='')}/retry", who.token, body, key=key)
            results.append((exception_id, "retry requested" if answer.ok else f"refused: {answer.detail}"))
    return page(
        "bulk.html",
        who,
        active="/exceptions",
        title="Bulk retry",
        status=200 if error is None else 400,
        results=results,
        error=error,
    )
