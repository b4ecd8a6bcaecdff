"""Reconciliation: open a report by id, start one for an entity and period; breaks link to exceptions."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from experience.api import ApiAnswer, ApiClient, submission_key
from experience.auth import SignedIn
from experience.csrf import checked_form
from experience.pages.render import page

__all__ = ["reports_page", "start_reconciliation"]


@get("/reconciliations", include_in_schema=False)
async def reports_page(state: State, who: NamedDependency[SignedIn], report: FromQuery[str | None] = None) -> Template:
    """The report named by `report`, and the form to start a reconciliation."""
    api: ApiClient = state.api
    answer: ApiAnswer | None = None
    if report:
        answer = await api.get(f"/v1/reconciliations/{quote(report, safe='')}", who.token)
    return _page(who, report or "", answer, None)


def _page(who: SignedIn, report: str, answer: ApiAnswer | None, error: str | None, status: int = 200) -> Template:
    return page(
        "reconciliations.html",
        who,
        active="/reconciliations",
        title="Reconciliation",
        status=status,
        report=report,
        answer=answer,
        error=error,
    )


@post("/reconciliations", include_in_schema=False, status_code=303)
async def start_reconciliation(
    request: Request[Any, Any, Any], state: State, who: NamedDependency[SignedIn]
) -> Redirect | Template:
    """Start a reconciliation through the API and open its report."""
    form = await checked_form(request, who, state.settings)
    api: ApiClient = state.api
    body = {k: form[k] for k in ("legal_entity", "period", "tolerance") if form.get(k)}
    answer = await api.post("/v1/reconciliations", who.token, body, key=submission_key(form, "reconcile"))
    if answer.ok and isinstance(answer.body, dict) and answer.body.get("id"):
        return Redirect(f"/reconciliations?report={quote(str(answer.body['id']), safe='')}", status_code=303)
    return _page(who, "", None, f"Reconciliation refused: {answer.detail}", status=answer.status)
