"""RFC 9457 problem details: the one error shape of every API in the project."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["PROBLEM_TYPE_BASE", "Problem", "ProblemFieldError", "problem_type"]

PROBLEM_TYPE_BASE = "https://fig.dev/problems/"


def problem_type(slug: str) -> str:
    """The `type` URI of a problem kind, e.g. `problem_type("not-found")`."""
    return PROBLEM_TYPE_BASE + slug


class ProblemFieldError(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """One violation inside a refused request: where (a JSON path or parameter) and why."""

    location: str
    message: str


class Problem(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """An `application/problem+json` body; `correlation_id` ties it to logs and audit."""

    type: str
    title: str
    status: int
    detail: str = ""
    instance: str | None = None
    correlation_id: str | None = None
    code: str | None = None
    errors: list[ProblemFieldError] | None = None
    extensions: dict[str, Any] | None = None
