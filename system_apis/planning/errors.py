"""The planning package's errors and their one translation to problem+json.

PlanningError                     root: the planning platform did not do what was asked (502)
├── PlanningAuthError             it refused our credentials or token even after re-authenticating (502)
├── PlanningProtocolError         it answered something we cannot read (malformed body, odd status) (502)
├── PlanningRequestRejected       it refused the request itself (400/403/404 from the vendor) (502)
├── PlanningUnavailable           unreachable, timing out or answering 5xx (503)
│   ├── PlanningBusy              still 409 (model busy) or 429 (throttled) after bounded retries (503)
│   └── TaskTimeout               a task did not complete in time (504)
└── TaskFailed                    a task completed without doing its job; carries the task result (502)
    ├── ImportFailed              e.g. the file's header did not match the import definition
    └── ExportFailed
Rows the platform rejected are not errors: they come back in `PlanningImportResult.rejected`.
"""

from __future__ import annotations

import math
from typing import Any

from litestar import Request, Response

from servicekit import ProblemError, UpstreamError, UpstreamTimeout, UpstreamUnavailable, problem_response

__all__ = [
    "ExportFailed",
    "ImportFailed",
    "PlanningAuthError",
    "PlanningBusy",
    "PlanningError",
    "PlanningProtocolError",
    "PlanningRequestRejected",
    "PlanningUnavailable",
    "TaskFailed",
    "TaskTimeout",
    "planning_error_handler",
    "to_problem",
]


class PlanningError(Exception):
    """Root of the planning connector's errors; `status` is the vendor's HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class PlanningAuthError(PlanningError):
    pass


class PlanningProtocolError(PlanningError):
    pass


class PlanningRequestRejected(PlanningError):
    pass


class PlanningUnavailable(PlanningError):
    """Anaplan unreachable or answering 502/503/504; `retry_after`: when it (or our breaker) said to retry."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class PlanningBusy(PlanningUnavailable):
    pass


class TaskTimeout(PlanningUnavailable):
    pass


class TaskFailed(PlanningError):
    """A task reached COMPLETE without success; `task` is the vendor's task JSON (with `result`)."""

    def __init__(self, message: str, *, task: dict[str, Any]) -> None:
        super().__init__(message)
        self.task = task

    @property
    def result(self) -> dict[str, Any]:
        result = self.task.get("result")
        return result if isinstance(result, dict) else {}


class ImportFailed(TaskFailed):
    pass


class ExportFailed(TaskFailed):
    pass


def to_problem(exc: PlanningError) -> ProblemError:
    """The problem+json a planning failure becomes at our API's edge."""
    extensions: dict[str, Any] = {"platform": "anaplan"}
    if exc.status is not None:
        extensions["vendor_status"] = exc.status
    if isinstance(exc, TaskTimeout):
        return UpstreamTimeout(exc.message, slug="planning-task-timeout", extensions=extensions)
    if isinstance(exc, PlanningUnavailable):
        # Every 503 says when to come back: what Anaplan or the breaker said, else a second.
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after or 0)))}
        if isinstance(exc, PlanningBusy):
            return UpstreamUnavailable(
                exc.message, slug="planning-busy", title="Planning busy", headers=headers, extensions=extensions
            )
        return UpstreamUnavailable(exc.message, slug="planning-unavailable", headers=headers, extensions=extensions)
    if isinstance(exc, TaskFailed):
        details = exc.result.get("details")
        extensions["task_id"] = exc.task.get("taskId")
        extensions["details"] = details if isinstance(details, list) else []
        return UpstreamError(
            exc.message, slug="planning-task-failed", title="Planning task failed", extensions=extensions
        )
    return UpstreamError(exc.message, slug="planning-error", title="Planning platform error", extensions=extensions)


def planning_error_handler(request: Request[Any, Any, Any], exc: PlanningError) -> Response[bytes]:
    """Litestar exception handler: register for `PlanningError` on the routers that call the connector."""
    problem = to_problem(exc)
    return problem_response(
        request,
        status=problem.status,
        slug=problem.problem_slug,
        title=problem.problem_title,
        detail=problem.detail,
        headers=problem.headers or None,
        extensions=problem.extensions,
    )
